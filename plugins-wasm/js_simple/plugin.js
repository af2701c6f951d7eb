// The JavaScript port of plugin_simple (the seed's first plugin): logs every event at INFO as
// `{prefix}Kind: {kind}; Name: {name}`, and nothing for events of kind `skip_kind`; an ERROR
// naming the field when the event has no kind or name (the host never delivers such an event).
// The conformance contract: docs/conformance.md. Build: bash scripts/build-js.sh.
//
// Config: `{"prefix": string, "skip_kind": string}`, both optional (`skip_kind` may be null).

let prefix = "";
/** @type {string | null} */
let skipKind = null;

/** @param {import("../../guest-sdk/js").Config} config */
export function init(config) {
  // As the Rust reference's serde struct: prefix is a string (not null), skip_kind a string or null.
  const { prefix: p = "", skip_kind: s = null } = config;
  if (typeof p !== "string") refuse("prefix is not a string");
  if (s !== null && typeof s !== "string") refuse("skip_kind is not a string");
  prefix = /** @type {string} */ (p);
  skipKind = /** @type {string | null} */ (s);
}

/**
 * Refuses the config: init's exception is the reason the host logs, and the plugin does not load.
 * @param {string} why
 * @returns {never}
 */
function refuse(why) {
  throw new Error(`config must be an object with optional strings prefix and skip_kind: ${why}`);
}

/**
 * @param {import("../../guest-sdk/js").WatchEvent} event
 * @returns {import("../../guest-sdk/js").HandleEventResult}
 */
export function handleEvent(event) {
  const object = event?.object;
  const kind = typeof object?.kind === "string" ? object.kind : undefined;
  const name = typeof object?.metadata?.name === "string" ? object.metadata.name : undefined;
  if (kind !== undefined && kind === skipKind) return null;
  if (kind !== undefined && name !== undefined) return [`${prefix}Kind: ${kind}; Name: ${name}`, "INFO"];
  if (kind === undefined && name === undefined) return ["event has no object.kind and no object.metadata.name", "ERROR"];
  return [kind === undefined ? "event has no object.kind" : "event has no object.metadata.name", "ERROR"];
}
