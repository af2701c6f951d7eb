// The plugin's config: the JSON object `init` received (docs/ABI.md §5), read member by member.

import { JsonReader } from "./json";

/** The config object. Getters return the fallback for an absent member and record a type error
 *  (readable as `error`) for a member of the wrong type, so `init` can refuse with one message. */
export class Config {
  /** The first problem a getter met, e.g. `prefix must be a string`; null if none. */
  error: string | null = null;

  constructor(
    /** Address of a private copy of the config's bytes (kept for the instance's lifetime). */
    readonly ptr: usize,
    readonly len: usize,
  ) {}

  /** The config's JSON text. */
  raw(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  /** True when the config has the member `key` (with any value, even null). */
  has(key: string): bool {
    return this.find(key) !== null;
  }

  /** The string member `key`; `fallback` when absent. `nullable`: null counts as absent; otherwise
   *  null is a type error (as serde's `String` field rejects it). */
  getString(key: string, fallback: string | null = null, nullable: bool = true): string | null {
    const r = this.find(key);
    if (r === null) return fallback;
    if (nullable && r.atNull()) return fallback;
    const value = r.peek() == 0x22 ? r.readString() : null;
    if (value === null) this.problem(key + " must be a string" + (r.error !== null ? " (" + r.error! + ")" : ""));
    return value !== null ? value : fallback;
  }

  /** The non-negative integer member `key`; `fallback` when absent or null. */
  getUnsigned(key: string, fallback: i64): i64 {
    const r = this.find(key);
    if (r === null || r.atNull()) return fallback;
    const value = r.readUnsigned();
    if (value < 0) {
      this.problem(key + " must be a non-negative integer");
      return fallback;
    }
    return value;
  }

  /** A reader at the value of member `key`, or null if the config has no such member. The config
   *  must be a JSON object: anything else is recorded as an error. */
  find(key: string): JsonReader | null {
    const r = new JsonReader(this.ptr, this.len);
    if (!r.enterObject()) {
      this.problem("the config must be a JSON object (" + r.error! + ")");
      return null;
    }
    let found: JsonReader | null = null;
    while (r.nextMember()) {
      // The last of duplicate members wins, as in serde_json's maps.
      if (r.keyIs(key)) found = new JsonReader(r.pos, r.end - r.pos);
      r.skipValue();
    }
    if (r.ensureEnd()) return found;
    this.problem("the config is not valid JSON (" + r.error! + ")");
    return null;
  }

  private problem(message: string): void {
    if (this.error === null) this.error = message;
  }
}
