// One JavaScript test plugin, many behaviours, chosen by its config's `mode` (a JavaScript
// component is 12 MB and compiles in seconds, so the tests load this one file under several
// names). Build: bash scripts/build-js.sh.
//
// - `services`: logs WARN `services: {kind}/{name}` through watcher.log, prints `stdout: {name}`
//   with console.log, counts the event in its metric `services_handled{kind}`, and returns DEBUG
//   `handled {name}`;
// - `loop`: spins forever (the host interrupts it at its deadline);
// - `memory_bomb`: keeps 16 MiB typed arrays and 4 MiB strings, every byte written, until the
//   memory cap stops it (typed arrays: SpiderMonkey runs without a JIT in wasm, and filling a
//   plain Array would meet the deadline before the cap);
// - `throw`: throws `new Error("javascript plugin exploded")` from a nested function (its message
//   and stack reach the log through stderr);
// - `bad_outcome`: returns `[42, "LOUD"]`, which is no outcome (the SDK throws a TypeError).

const kept = [];

function explode() {
  throw new Error("javascript plugin exploded");
}

const MODES = {
  services(event, watcher) {
    const { kind, metadata } = event.object;
    watcher.log(`services: ${kind}/${metadata.name}`, "WARN");
    console.log(`stdout: ${metadata.name}`);
    watcher.counter("services_handled", 1, { help: "Events handled in services mode", labels: { kind } });
    return [`handled ${metadata.name}`, "DEBUG"];
  },
  loop() {
    for (;;) {}
  },
  memory_bomb() {
    for (let n = 0; ; n++) {
      kept.push(new Uint8Array(16 << 20).fill(n & 0xff));
      kept.push(String.fromCharCode(97 + (n % 26)).repeat(4 << 20));
    }
  },
  throw() {
    explode();
  },
  bad_outcome() {
    return [42, "LOUD"];
  },
};

export function init(config) {
  if (!Object.hasOwn(MODES, config.mode)) {
    throw new Error(`mode must be one of ${Object.keys(MODES).join(", ")}, not ${JSON.stringify(config.mode)}`);
  }
}

export function handleEvent(event, config, watcher) {
  return MODES[config.mode](event, watcher);
}
