// Runs a built plugin component under Node.js, without the Rust host (a dev tool, and the
// SDK's component tests): jco transpiles the component to JavaScript plus core wasm, whose WASI
// 0.2 imports @bytecodealliance/preview2-shim serves, and a fake host interface logs to stdout.
//
//   node guest-sdk/js/tools/run-component.mjs COMPONENT.wasm [EVENTS.jsonl] [--config JSON]
//
// Prints one line per host call and per outcome. Unlike the real host it sets no deadline, no
// memory cap and grants WASI whatever the shim grants: use `event-controller replay` for that.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const jco = join(sdkDir, "node_modules/@bytecodealliance/jco/dist/jco.js");

/**
 * Transpiles `component`; resolves to `instantiate(host)`, which makes a fresh instance (a new
 * module graph each time) whose imports `event-controller:plugin/host@2.0.0` are `host`'s
 * functions, and to `dispose()`, which removes the transpiled files.
 */
export async function loadComponent(component) {
  // Inside node_modules, so that the transpiled code finds @bytecodealliance/preview2-shim.
  const cache = join(sdkDir, "node_modules/.cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, "ec-run-"));
  writeFileSync(
    join(dir, "host.js"),
    "export const log = (...a) => globalThis.__ecHost.log(...a);\n" +
      "export const httpRequest = (...a) => globalThis.__ecHost.httpRequest(...a);\n" +
      "export const kubeRequest = (...a) => globalThis.__ecHost.kubeRequest(...a);\n" +
      "export const metric = (...a) => globalThis.__ecHost.metric(...a);\n",
  );
  writeFileSync(join(dir, "types.js"), "export {};\n");
  const r = spawnSync(
    process.execPath,
    [
      jco, "transpile", resolve(component), "--quiet", "-o", join(dir, "out"), "--name", "plugin",
      "--map", "event-controller:plugin/host@2.0.0=../host.js",
      "--map", "event-controller:plugin/types@2.0.0=../types.js",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`jco transpile ${component} failed:\n${r.stderr}${r.stdout}`);
  }
  let n = 0;
  return {
    async instantiate(host) {
      globalThis.__ecHost = host;
      return import(`${pathToFileURL(join(dir, "out/plugin.js")).href}?instance=${n++}`);
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let config = "{}";
  const c = args.indexOf("--config");
  if (c >= 0) {
    config = args[c + 1];
    args.splice(c, 2);
  }
  const [component, events] = args;
  if (!component) {
    console.error("usage: node run-component.mjs COMPONENT.wasm [EVENTS.jsonl] [--config JSON]");
    process.exit(2);
  }
  const name = basename(component, ".wasm");
  const host = {
    log: (level, message) => console.log(`${name}: log ${level}: ${message}`),
    httpRequest: (request) => {
      console.log(`${name}: http-request ${request}`);
      return JSON.stringify({ error: "denied: run-component.mjs grants nothing" });
    },
    kubeRequest: (request) => {
      console.log(`${name}: kube-request ${request}`);
      return JSON.stringify({ error: "no Kubernetes connection (run-component.mjs)" });
    },
    metric: (request) => {
      console.log(`${name}: metric ${request}`);
    },
  };
  const loaded = await loadComponent(component);
  try {
    let instance = await loaded.instantiate(host);
    try {
      instance.init(config);
      console.log(`${name}: init ok`);
    } catch (e) {
      console.log(`${name}: init failed: ${e.payload ?? e}`);
      process.exitCode = 1;
    }
    const lines = events ? readFileSync(events, "utf8").split("\n").filter((l) => l.trim()) : [];
    for (const line of lines) {
      try {
        const outcome = instance.handleEvent(line);
        console.log(`${name}: outcome ${outcome === undefined ? "none" : JSON.stringify(outcome, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);
      } catch (e) {
        console.log(`${name}: trap: ${e}`);
        instance = await loaded.instantiate(host); // as the host does: a fresh instance
        instance.init(config);
      }
    }
  } finally {
    loaded.dispose();
  }
}
