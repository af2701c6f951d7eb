// The guest ABI v1 (docs/ABI.md): exports' bodies, result packing, logging and the abort handler.
//
// Memory rule: everything the host holds a pointer to (the input it writes after `alloc`, the
// result it reads after `handle_event`) is *unmanaged* memory from `heap.alloc`. The garbage
// collector neither frees nor moves such blocks; only `dealloc` (heap.free) does. Managed objects
// (strings, the Event, the Outcome) live only during one call: the SDK collects garbage with
// `__collect()` at the end of each `handle_event` and `init`, when the plugin's stack holds no
// managed references any more (the `minimal` runtime never collects on its own).

import { Config } from "./config";
import { Event } from "./event";
import { putDecimal, utf8 } from "./utf8";

/** The host's log function: UTF-8 text at `[ptr, ptr + len)` under the plugin's name. */
@external("event_controller", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

/** A log level, as the `log` import and a result's `level` field know it. */
export enum Level {
  TRACE = 0,
  DEBUG = 1,
  INFO = 2,
  WARN = 3,
  ERROR = 4,
}

function levelName(level: Level): string {
  switch (level) {
    case Level.TRACE: return "TRACE";
    case Level.DEBUG: return "DEBUG";
    case Level.INFO: return "INFO";
    case Level.WARN: return "WARN";
    default: return "ERROR";
  }
}

/** What `handle_event` reports: one message at one level. Return null for "nothing to log". */
export class Outcome {
  constructor(public level: Level, public message: string) {}
  static trace(message: string): Outcome { return new Outcome(Level.TRACE, message); }
  static debug(message: string): Outcome { return new Outcome(Level.DEBUG, message); }
  static info(message: string): Outcome { return new Outcome(Level.INFO, message); }
  static warn(message: string): Outcome { return new Outcome(Level.WARN, message); }
  static error(message: string): Outcome { return new Outcome(Level.ERROR, message); }
}

/** Logs `message` through the host at `level` (from `init` or `handle_event`). */
export function log(level: Level, message: string): void {
  const len = utf8(message, 0, usize.MAX_VALUE, false);
  if (len == 0) {
    hostLog(level, 0, 0);
    return;
  }
  const buf = heap.alloc(len);
  utf8(message, buf, len, false);
  hostLog(level, buf, len);
  heap.free(buf);
}

// --- the exports' bodies ---

/** `alloc(len)`: `len` fresh bytes of unmanaged memory. Out of memory traps (via abort). */
export function alloc(len: i32): usize {
  return heap.alloc(<usize><u32>len);
}

/** `dealloc(ptr, len)`: frees a block from `alloc` or a result. The length is not needed. */
export function dealloc(ptr: usize, len: i32): void {
  if (ptr) heap.free(ptr);
}

/** `ec_abi_version()`: this SDK speaks ABI version 1. */
export function ec_abi_version(): i32 {
  return 1;
}

/** The config `init` received, or `{}` before `init` (or when the host sent none). */
let current: Config | null = null;

/** The plugin's config (see `Config`). */
export function config(): Config {
  let c = current;
  if (c === null) {
    const empty = heap.alloc(2);
    store<u16>(empty, 0x7d7b); // "{}"
    c = new Config(empty, 2);
    current = c;
  }
  return c;
}

/** The body of an `init` export: keeps a copy of the config and hands it to `handler`, which
 *  returns null to accept or the reason to refuse. A refusal is logged at ERROR and returns 1. */
export function runInit(ptr: usize, len: i32, handler: (config: Config) => string | null): i32 {
  const size = <usize><u32>len;
  // The host frees its buffer after `init`: keep our own (unmanaged, never collected).
  const copy = heap.alloc(size > 0 ? size : 1);
  memory.copy(copy, ptr, size);
  const c = new Config(copy, size);
  current = c;
  const refusal = handler(c);
  let code = 0;
  if (refusal !== null) {
    log(Level.ERROR, refusal);
    code = 1;
  }
  __collect();
  return code;
}

/** The body of a `handle_event` export: runs `handler` on the event at `[ptr, ptr + len)` and
 *  returns the packed result `(ptr << 32) | len`, or 0 when the handler returns null. */
export function runHandleEvent(ptr: usize, len: i32, handler: (event: Event) => Outcome | null): i64 {
  const outcome = handler(new Event(ptr, <usize><u32>len));
  const packed = outcome === null ? 0 : emit(outcome);
  __collect();
  return packed;
}

/** Writes the outcome as `{"level":"INFO","message":"..."}` into unmanaged memory, which the host
 *  frees with `dealloc`, and packs its address and length. */
export function emit(outcome: Outcome): i64 {
  const level = levelName(outcome.level);
  const PREFIX = '{"level":"';
  const MIDDLE = '","message":"';
  const prefixLen = <usize>PREFIX.length; // ASCII: one byte per unit
  const levelLen = <usize>level.length;
  const middleLen = <usize>MIDDLE.length;
  const bodyLen = utf8(outcome.message, 0, usize.MAX_VALUE, true);
  const len = prefixLen + levelLen + middleLen + bodyLen + 2;
  const buf = heap.alloc(len);
  let at = buf;
  at += utf8(PREFIX, at, prefixLen, false);
  at += utf8(level, at, levelLen, false);
  at += utf8(MIDDLE, at, middleLen, false);
  at += utf8(outcome.message, at, bodyLen, true);
  store<u16>(at, 0x7d22); // `"}`
  return (<i64>buf << 32) | <i64>len;
}

// --- abort ---

/** Scratch space for the abort message: static, so reporting "out of memory" needs no memory. */
const ABORT_CAP: usize = 512;
const abortBuf = memory.data(<i32>ABORT_CAP);
let aborting = false;

/** The abort handler, wired in with `--use abort=__ec_abort` (the host has no `env.abort`): logs
 *  `abort: MESSAGE at FILE:LINE:COLUMN` at ERROR, then traps. The host then starts a fresh instance. */
// @ts-ignore: decorator
@global export function __ec_abort(message: string | null, file: string | null, line: u32, column: u32): void {
  if (!aborting) {
    aborting = true; // an abort while reporting one just traps
    let n = utf8("abort: ", abortBuf, ABORT_CAP, false);
    n += utf8(message !== null ? message : "(no message)", abortBuf + n, ABORT_CAP - n, false);
    if (file !== null) {
      n += utf8(" at ", abortBuf + n, ABORT_CAP - n, false);
      n += utf8(file, abortBuf + n, ABORT_CAP - n, false);
      n += utf8(":", abortBuf + n, ABORT_CAP - n, false);
      n += putDecimal(abortBuf + n, ABORT_CAP - n, line);
      n += utf8(":", abortBuf + n, ABORT_CAP - n, false);
      n += putDecimal(abortBuf + n, ABORT_CAP - n, column);
    }
    hostLog(Level.ERROR, abortBuf, n);
  }
  unreachable();
}
