//! `ec`: a thin Zig helper for event-controller plugins, guest ABI v1 (docs/ABI.md).
//!
//! It hides what every plugin would otherwise repeat: the `alloc`/`dealloc` exports, packing the
//! result as `(ptr << 32) | len`, writing the escaped `{"level":..,"message":..}` JSON, keeping the
//! config that `init` receives, and reading the identity of an event. A plugin is:
//!
//!     const ec = @import("ec");
//!     pub const panic = ec.panic; // optional: panics are logged through the host, then trap
//!     comptime {
//!         ec.exportPlugin(.{ .handle_event = handleEvent }); // optionally `.init = init`
//!     }
//!     fn handleEvent(event: *ec.Event) !?ec.Outcome {
//!         const head = try event.head();
//!         return ec.Outcome.info(head.kind orelse "?");
//!     }
//!
//! `ec.kube` (kube.zig) wraps the host's `kube_request` and `ec.metric` (metric.zig) its
//! `metric`; a module imports those host functions only when it uses them.
//!
//! Build for `wasm32-freestanding` (see docs/ABI.md §10, Zig): no WASI, no `_initialize`.
//! All memory comes from `std.heap.wasm_allocator`; see README.md for who frees what.
//! Natively (`zig test`), `log` prints to stderr, `ec.allocator` is the page allocator, and
//! `kube.FakeCluster` and `metric.Recorder` stand in for the host's other functions.

const std = @import("std");
const builtin = @import("builtin");
pub const head_reader = @import("head.zig");

pub const Head = head_reader.Head;

/// The ABI version this helper implements; exported as `ec_abi_version`.
pub const abi_version: i32 = 1;

/// Largest result the host accepts (1 MiB); longer messages are cut and marked.
pub const max_result_len: usize = 1 << 20;

/// The allocator behind `alloc`/`dealloc`, the result buffer and the config. It grows linear
/// memory with `memory.grow` and keeps freed blocks on free lists (memory never shrinks).
/// Natively (`zig test` of a plugin) it is `std.heap.page_allocator`.
pub const allocator: std.mem.Allocator = if (builtin.target.cpu.arch.isWasm())
    std.heap.wasm_allocator
else
    std.heap.page_allocator;

/// Per-event scratch memory: decoded strings, the handler's own allocations. Reset after every
/// `handle_event`, keeping up to 64 KiB for the next event.
var event_arena: std.heap.ArenaAllocator = .init(allocator);

/// Kubernetes reads and writes through the host's `kube_request` (kube.zig): `kube.get`,
/// `list`, `create`, `apply`, `patch`, `delete`, and the loop-safe `ensure` and `removeOwned`.
/// Natively, `kube.FakeCluster` stands in for the host.
pub const kube = @import("kube.zig");

/// The plugin's own metrics through the host's `metric` (metric.zig): `metric.counter`,
/// `gauge`, `observe`. Natively, `metric.Recorder` stands in for the host.
pub const metric = @import("metric.zig");

// ---------------------------------------------------------------------------------------------
// Levels, outcomes, logging

pub const Level = enum(i32) {
    trace = 0,
    debug = 1,
    info = 2,
    warn = 3,
    @"error" = 4,

    /// The name written in a result: `TRACE` ... `ERROR`.
    pub fn name(level: Level) []const u8 {
        return switch (level) {
            .trace => "TRACE",
            .debug => "DEBUG",
            .info => "INFO",
            .warn => "WARN",
            .@"error" => "ERROR",
        };
    }
};

/// One message for the host to log for an event. Return `null` instead for "nothing to log".
/// `message` must be UTF-8 and stay valid until the handler returns (the event arena is fine).
pub const Outcome = struct {
    level: Level,
    message: []const u8,

    pub fn trace(message: []const u8) Outcome {
        return .{ .level = .trace, .message = message };
    }
    pub fn debug(message: []const u8) Outcome {
        return .{ .level = .debug, .message = message };
    }
    pub fn info(message: []const u8) Outcome {
        return .{ .level = .info, .message = message };
    }
    pub fn warn(message: []const u8) Outcome {
        return .{ .level = .warn, .message = message };
    }
    pub fn err(message: []const u8) Outcome {
        return .{ .level = .@"error", .message = message };
    }
};

const host = struct {
    extern "event_controller" fn log(level: i32, ptr: [*]const u8, len: usize) void;
};

/// Logs `message` through the host at `level` (any number of times, from `init` or an event).
/// The host truncates messages over 64 KiB. (Every plugin imports `log`: `init` uses it to
/// explain a refused config.)
pub fn log(level: Level, message: []const u8) void {
    if (builtin.target.cpu.arch.isWasm()) {
        host.log(@intFromEnum(level), message.ptr, message.len);
    } else {
        std.debug.print("[{s}] {s}\n", .{ level.name(), message });
    }
}

/// Panic handler for the plugin's root file (`pub const panic = ec.panic;`): sends the message
/// to the host's log at ERROR, then traps. The host logs the trap and starts a fresh instance.
/// Without it, a freestanding Zig panic is a bare `unreachable` trap with no message.
/// Natively (`zig test` of a plugin) it is Zig's default panic, with its stack trace.
pub const panic = if (builtin.target.cpu.arch.isWasm())
    std.debug.FullPanic(panicFn)
else
    std.debug.FullPanic(std.debug.defaultPanic);

fn panicFn(message: []const u8, _: ?usize) noreturn {
    @branchHint(.cold);
    var buf: [512]u8 = undefined;
    const text = std.fmt.bufPrint(&buf, "plugin panicked: {s}", .{message}) catch message;
    log(.@"error", text);
    @trap();
}

// ---------------------------------------------------------------------------------------------
// Events and config

/// One watch event, valid for the duration of the handler call.
pub const Event = struct {
    /// The event's JSON exactly as the API server sent it.
    raw: []const u8,
    /// Scratch memory freed after the call: use it for the message.
    arena: std.mem.Allocator,
    /// Why `head()` failed, after it returned `error.BadJson`.
    error_message: ?[]const u8 = null,
    cached_head: ?Head = null,

    /// `type`, `object.kind`, `object.apiVersion`, `object.metadata.name` and `.namespace`.
    /// Reads only as far as needed (with the API server's member order, not past `metadata`'s
    /// identity); member order does not matter. Cached: later calls are free.
    pub fn head(event: *Event) head_reader.Error!Head {
        if (event.cached_head) |h| return h;
        var reader: head_reader.Reader = .{ .bytes = event.raw, .allocator = event.arena };
        event.cached_head = head_reader.read(&reader) catch |e| {
            if (e == error.BadJson)
                event.error_message = positioned(event.arena, reader.message, reader.pos);
            return e;
        };
        return event.cached_head.?;
    }

    /// Parses the whole event with `std.json` into `T` (only the fields `T` names; unknown fields
    /// ignored), in the event arena. The slowest way in: use it only for events you care about.
    /// On failure `error_message` says why and where, e.g.
    /// `cannot parse the event: UnexpectedToken at byte 123`.
    pub fn parse(event: *Event, comptime T: type) !T {
        return parseJson(T, event.arena, event.raw, .alloc_if_needed, "the event", &event.error_message);
    }
};

/// The config `init` received (the plugin's table from the config file, as JSON; `{}` when none).
pub const Config = struct {
    raw: []const u8,
    /// Why `string()` failed, after it returned `error.BadJson`.
    error_message: ?[]const u8 = null,

    /// The top-level string member `name`, decoded; `null` when absent or JSON `null`.
    /// `error.BadJson` when it is not a string or the config is malformed. The text lives as long
    /// as the instance.
    pub fn string(self: *Config, name: []const u8) head_reader.Error!?[]const u8 {
        var reader: head_reader.Reader = .{ .bytes = self.raw, .allocator = allocator };
        return head_reader.topLevelString(&reader, name) catch |e| {
            if (e == error.BadJson) {
                const what = std.mem.concat(allocator, u8, &.{ "config member `", name, "`: ", reader.message }) catch reader.message;
                self.error_message = positioned(allocator, what, reader.pos);
            }
            return e;
        };
    }

    /// Parses the config with `std.json` into `T` (unknown members ignored, missing ones need a
    /// default); lives as long as the instance. On failure `error_message` says why and where.
    pub fn parse(self: *Config, comptime T: type) !T {
        return parseJson(T, allocator, self.raw, .alloc_always, "the config", &self.error_message);
    }
};

var stored_config: ?Config = null;

/// The config this instance received in `init`, or `null` before it.
pub fn config() ?Config {
    return stored_config;
}

/// `std.json.parseFromSliceLeaky` with unknown fields ignored; on failure sets `why` to
/// `cannot parse {what}: {error name} at byte {offset}`.
fn parseJson(
    comptime T: type,
    gpa: std.mem.Allocator,
    json: []const u8,
    allocate: std.json.AllocWhen,
    what: []const u8,
    why: *?[]const u8,
) !T {
    var scanner = std.json.Scanner.initCompleteInput(gpa, json);
    defer scanner.deinit();
    var diagnostics: std.json.Diagnostics = .{};
    scanner.enableDiagnostics(&diagnostics);
    return std.json.parseFromTokenSourceLeaky(T, gpa, &scanner, .{
        .ignore_unknown_fields = true,
        .allocate = allocate,
    }) catch |e| {
        const text = std.mem.concat(gpa, u8, &.{ "cannot parse ", what, ": ", @errorName(e) }) catch @errorName(e);
        why.* = positioned(gpa, text, @intCast(diagnostics.getByteOffset()));
        return e;
    };
}

/// `"{message} at byte {pos}"`, or just `message` when out of memory.
fn positioned(gpa: std.mem.Allocator, message: []const u8, pos: usize) []const u8 {
    var digits: [20]u8 = undefined;
    var i: usize = digits.len;
    var n = pos;
    while (true) {
        i -= 1;
        digits[i] = '0' + @as(u8, @intCast(n % 10));
        n /= 10;
        if (n == 0) break;
    }
    return std.mem.concat(gpa, u8, &.{ message, " at byte ", digits[i..] }) catch message;
}

// ---------------------------------------------------------------------------------------------
// The exports

/// Exports `alloc`, `dealloc`, `handle_event`, `init` and `ec_abi_version`. Call it from a
/// `comptime` block of the plugin's root file with
/// `.{ .handle_event = f }` or `.{ .handle_event = f, .init = g }` where
///
/// - `f(event: *Event)` returns `Outcome`, `?Outcome` (`null`: nothing to log), or an error
///   union of those: an error becomes an ERROR outcome (the JSON reader's reason, or the error's
///   name);
/// - `g(config: *Config)` returns `void` or `!void`: an error refuses the config (logged at
///   ERROR, `init` returns 1). Without `.init`, any config is accepted and kept for `config()`.
pub fn exportPlugin(comptime plugin: anytype) void {
    const Plugin = @TypeOf(plugin);
    const exports = struct {
        fn handleEvent(ptr: [*]const u8, len: usize) callconv(.c) i64 {
            return runHandler(plugin.handle_event, ptr[0..len]);
        }
        fn init(ptr: [*]const u8, len: usize) callconv(.c) i32 {
            if (@hasField(Plugin, "init")) return runInit(plugin.init, ptr[0..len]);
            return runInit(acceptAny, ptr[0..len]);
        }
    };
    @export(&allocExport, .{ .name = "alloc" });
    @export(&deallocExport, .{ .name = "dealloc" });
    @export(&exports.handleEvent, .{ .name = "handle_event" });
    @export(&exports.init, .{ .name = "init" });
    @export(&abiVersionExport, .{ .name = "ec_abi_version" });
}

fn allocExport(len: usize) callconv(.c) [*]u8 {
    // `alloc(0)` is never called; answer with a non-null pointer anyway.
    if (len == 0) return @ptrFromInt(1);
    // Growing memory past the host's cap traps inside `memory.grow`, so this rarely fails.
    const bytes = allocator.alloc(u8, len) catch @trap();
    return bytes.ptr;
}

fn deallocExport(ptr: [*]u8, len: usize) callconv(.c) void {
    // The allocator needs the length; the host always passes the one it was given.
    if (len != 0) allocator.free(ptr[0..len]);
}

fn abiVersionExport() callconv(.c) i32 {
    return abi_version;
}

fn acceptAny(_: *Config) void {}

fn runInit(comptime init_fn: anytype, input: []const u8) i32 {
    // The host frees the input after `init`: keep a copy for the instance's lifetime.
    const raw = allocator.dupe(u8, input) catch @trap();
    if (!std.unicode.utf8ValidateSlice(raw)) {
        log(.@"error", "the config is not valid UTF-8");
        return 1;
    }
    var cfg: Config = .{ .raw = raw };
    stored_config = cfg;
    const result = init_fn(&cfg);
    if (@typeInfo(@TypeOf(result)) == .error_union) {
        result catch |e| {
            log(.@"error", cfg.error_message orelse @errorName(e));
            return 1;
        };
    }
    return 0;
}

fn runHandler(comptime handler: anytype, input: []const u8) i64 {
    defer _ = event_arena.reset(.{ .retain_with_limit = 64 * 1024 });
    var event: Event = .{ .raw = input, .arena = event_arena.allocator() };
    const outcome: ?Outcome = toOutcome(handler(&event)) catch |e|
        Outcome.err(event.error_message orelse @errorName(e));
    return emit(outcome orelse return 0);
}

/// Normalises a handler's return value to `!?Outcome`.
fn toOutcome(result: anytype) anyerror!?Outcome {
    const T = @TypeOf(result);
    return switch (@typeInfo(T)) {
        .error_union => toOutcome(try result),
        .optional => result,
        else => @as(Outcome, result),
    };
}

// ---------------------------------------------------------------------------------------------
// The result

/// Writes the outcome's JSON into a buffer of exactly its length (the host frees it with
/// `dealloc(ptr, len)`) and packs it as `(ptr << 32) | len`.
pub fn emit(outcome: Outcome) i64 {
    const json = resultJson(allocator, outcome) catch @trap();
    return pack(@intFromPtr(json.ptr), json.len);
}

pub fn pack(ptr: usize, len: usize) i64 {
    const p: u64 = @as(u32, @intCast(ptr));
    const l: u64 = @as(u32, @intCast(len));
    return @bitCast((p << 32) | l);
}

const json_head = "{\"level\":\"";
const json_middle = "\",\"message\":\"";
const json_tail = "\"}";
const truncated_mark = "… [truncated]";

/// `{"level":"INFO","message":"..."}` with the message JSON-escaped, in a buffer of exactly its
/// length. A message whose JSON would exceed 1 MiB is cut at a character boundary and marked.
pub fn resultJson(gpa: std.mem.Allocator, outcome: Outcome) ![]u8 {
    const level = outcome.level.name();
    const fixed = json_head.len + level.len + json_middle.len + json_tail.len;
    var message = outcome.message;
    var mark: []const u8 = "";
    if (fixed + escapedLen(message) > max_result_len) {
        message = message[0..cutPoint(message, max_result_len - 64 - truncated_mark.len)];
        mark = truncated_mark;
    }
    const out = try gpa.alloc(u8, fixed + escapedLen(message) + mark.len);
    var w: usize = 0;
    for ([_][]const u8{ json_head, level, json_middle }) |part| {
        @memcpy(out[w..][0..part.len], part);
        w += part.len;
    }
    w = writeEscaped(out, w, message);
    @memcpy(out[w..][0..mark.len], mark);
    w += mark.len;
    @memcpy(out[w..][0..json_tail.len], json_tail);
    std.debug.assert(w + json_tail.len == out.len);
    return out;
}

/// The length of `byte` in a JSON string: `\"`, `\\`, `\n` etc. take 2, other controls 6 (`\u001f`).
fn escapedByteLen(byte: u8) usize {
    return switch (byte) {
        '"', '\\', 0x08, 0x0c, '\n', '\r', '\t' => 2,
        0...0x07, 0x0b, 0x0e...0x1f => 6,
        else => 1,
    };
}

fn escapedLen(text: []const u8) usize {
    var n: usize = 0;
    for (text) |byte| n += escapedByteLen(byte);
    return n;
}

/// The longest prefix of `text`, ending on a UTF-8 character boundary, whose escaped length is
/// at most `budget`.
fn cutPoint(text: []const u8, budget: usize) usize {
    var used: usize = 0;
    var cut: usize = 0;
    for (text, 0..) |byte, i| {
        used += escapedByteLen(byte);
        if (used > budget) break;
        // A boundary is before any byte that is not a continuation byte (0b10xxxxxx).
        if (i + 1 == text.len or text[i + 1] & 0xc0 != 0x80) cut = i + 1;
    }
    return cut;
}

fn writeEscaped(out: []u8, start: usize, text: []const u8) usize {
    const hex = "0123456789abcdef";
    var w = start;
    for (text) |byte| {
        const short: ?u8 = switch (byte) {
            '"' => '"',
            '\\' => '\\',
            0x08 => 'b',
            0x0c => 'f',
            '\n' => 'n',
            '\r' => 'r',
            '\t' => 't',
            else => null,
        };
        if (short) |c| {
            out[w..][0..2].* = .{ '\\', c };
            w += 2;
        } else if (byte < 0x20) {
            out[w..][0..6].* = .{ '\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf] };
            w += 6;
        } else {
            out[w] = byte;
            w += 1;
        }
    }
    return w;
}

test "result JSON" {
    const gpa = std.testing.allocator;
    const json = try resultJson(gpa, Outcome.info("Kind: Pod; Name: \"a\"\\\n\x01é"));
    defer gpa.free(json);
    try std.testing.expectEqualStrings(
        "{\"level\":\"INFO\",\"message\":\"Kind: Pod; Name: \\\"a\\\"\\\\\\n\\u0001é\"}",
        json,
    );
    const big = try gpa.alloc(u8, max_result_len);
    defer gpa.free(big);
    @memset(big, '"');
    const cut = try resultJson(gpa, Outcome.warn(big));
    defer gpa.free(cut);
    try std.testing.expect(cut.len <= max_result_len);
    try std.testing.expect(std.mem.endsWith(u8, cut, truncated_mark ++ json_tail));
    try std.testing.expectEqual(@as(i64, 68719476755), pack(16, 19));
}

test {
    _ = head_reader;
    _ = kube;
    _ = metric;
}
