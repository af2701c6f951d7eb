// Builds one JavaScript (or TypeScript) plugin into an event-controller component (guest ABI v2,
// wit/plugin.wit):
//
//   node guest-sdk/js/tools/build.mjs PLUGIN.js OUT.wasm [SUBSCRIBE.json]
//
// scripts/build-js.sh calls it (writing OUT under a hidden temporary name, then renaming). Steps:
//
// 1. esbuild bundles a small entry module, the plugin and everything it imports (relative files,
//    pure-JavaScript npm packages, the SDK) into one ES module. componentize-js only sees files
//    under the directory of its source, so the SDK (guest-sdk/js) could not be imported from a
//    plugin elsewhere; one bundle also lets a plugin be TypeScript (esbuild strips the types: it
//    does not check them). The host interface `event-controller:plugin/host@2.0.0` stays an
//    import, which componentize-js provides.
// 2. componentize-js (pinned in package.json) evaluates the bundle's top level in SpiderMonkey
//    at build time (a Wizer snapshot) and makes the component, with its `http` and `fetch-event`
//    features disabled: no `fetch`, so no `wasi:http` import. `stdio` (console, and the message and
//    stack of an uncaught exception, on stderr), `clocks` (Date.now, performance.now, timers; with
//    it disabled Date.now traps) and `random` (Math.random, crypto.getRandomValues) stay: the
//    host's WASI 0.2 serves them.
// 3. The component's imports are checked: only `event-controller:plugin/*@2.*` and `wasi:*@0.2.*`
//    (whatever else would make the host refuse it is an error here, at build time).
// 4. SUBSCRIBE.json, when given, is appended as the custom section `event-controller.subscribe`.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { componentize } from "@bytecodealliance/componentize-js";
import { appendCustomSection, componentImports } from "./wasm-sections.mjs";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const witPath = resolve(sdkDir, "../../wit/plugin.wit");
const HOST_INTERFACE = "event-controller:plugin/host@2.0.0";
const DISABLED_FEATURES = ["http", "fetch-event"];
const ALLOWED_IMPORT = /^(event-controller:plugin\/[a-z-]+@2\.\d+\.\d+|wasi:[a-z-]+\/[a-z-]+@0\.2\.\d+)$/;

export async function build({ plugin, out, subscribe }) {
  const pluginPath = resolve(plugin);
  const name = basename(out).replace(/\.wasm(\.tmp)?$/, "").replace(/^\./, "") || "plugin";
  const work = await mkdtemp(join(tmpdir(), "ec-js-build-"));
  try {
    // 1. One ES module. The entry's exports are the world's: init and handleEvent.
    const entry = [
      `import { log, httpRequest, kubeRequest, metric } from ${JSON.stringify(HOST_INTERFACE)};`,
      `import * as plugin from ${JSON.stringify(pluginPath)};`,
      `import { createWorld, reportUncaught } from ${JSON.stringify(join(sdkDir, "src/sdk.js"))};`,
      `const world = createWorld(plugin, { log, httpRequest, kubeRequest, metric });`,
      // With the http feature disabled the engine still defines fetch, and calling it traps the
      // call without a word: make it say why instead.
      `globalThis.fetch = function fetch() {`,
      `  throw new TypeError("fetch() is not available to event-controller plugins: use watcher.http(method, url, {headers, body}), which goes through the operator's grant");`,
      `};`,
      `function worldInit(config) { return world.init(config); }`,
      `function worldHandleEvent(event) {`,
      `  let result;`,
      `  try {`,
      `    result = world.handleEvent(event);`,
      `  } catch (e) {`,
      `    throw reportUncaught(e);`,
      `  }`,
      `  if (result && typeof result.then === "function") {`,
      `    return result.then(undefined, (e) => { throw reportUncaught(e); });`,
      `  }`,
      `  return result;`,
      `}`,
      `export { worldInit as init, worldHandleEvent as handleEvent };`,
      ``,
    ].join("\n");
    let bundled;
    try {
      bundled = await esbuild.build({
        stdin: { contents: entry, resolveDir: dirname(pluginPath), sourcefile: "event-controller-entry.js", loader: "js" },
        bundle: true,
        write: false,
        format: "esm",
        platform: "neutral",
        mainFields: ["module", "main"],
        target: "esnext",
        external: [HOST_INTERFACE],
        charset: "utf8",
        legalComments: "inline",
        logLevel: "silent",
      });
    } catch (e) {
      const errors = (e.errors ?? []).map((m) => esbuild.formatMessagesSync([m], { kind: "error" }).join("")).join("");
      let hint = "";
      if (/Could not resolve "(node:)?[a-z_/]+"/.test(errors)) {
        hint = "\nA plugin runs in a sandbox without Node.js's modules (fs, http, process...): use the watcher's services.";
      }
      throw new Error(`cannot bundle ${plugin}:\n${errors || e.message}${hint}`);
    }
    for (const w of bundled.warnings) console.error(esbuild.formatMessagesSync([w], { kind: "warning" }).join(""));
    // The bundle's name is what stack traces show: `js_simple.js:12:5`.
    const source = join(work, `${name}.js`);
    await writeFile(source, bundled.outputFiles[0].contents);
    // EC_JS_BUNDLE_DIR=DIR keeps the bundle as DIR/NAME.js, to read stack traces' line numbers.
    if (process.env.EC_JS_BUNDLE_DIR) {
      await mkdir(process.env.EC_JS_BUNDLE_DIR, { recursive: true });
      await writeFile(join(process.env.EC_JS_BUNDLE_DIR, `${name}.js`), bundled.outputFiles[0].contents);
    }

    // 2. The component.
    let component;
    try {
      ({ component } = await componentize({
        sourcePath: source,
        witPath,
        worldName: "plugin",
        disableFeatures: DISABLED_FEATURES,
      }));
    } catch (e) {
      throw new Error(`componentize-js failed on ${plugin} (bundled as ${name}.js):\n${e.message}`);
    }

    // 3. Imports the host serves.
    const unexpected = componentImports(component)
      .filter((i) => i.sort === "instance" && !ALLOWED_IMPORT.test(i.name))
      .map((i) => i.name);
    if (unexpected.length > 0) {
      throw new Error(`the component for ${plugin} imports ${unexpected.join(", ")}, which the host does not provide`);
    }

    // 4. The default subscription.
    if (subscribe) {
      const payload = await readFile(subscribe);
      try {
        JSON.parse(payload.toString("utf8")); // the host wants JSON: fail here rather than at load time
      } catch (e) {
        throw new Error(`${subscribe} is not valid JSON: ${e.message}`);
      }
      component = appendCustomSection(component, "event-controller.subscribe", payload);
    }
    await writeFile(out, component);
    return component.length;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [plugin, out, subscribe] = process.argv.slice(2);
  if (!plugin || !out) {
    console.error("usage: node build.mjs PLUGIN.js OUT.wasm [SUBSCRIBE.json]");
    process.exit(2);
  }
  try {
    await build({ plugin, out, subscribe });
  } catch (e) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
}
