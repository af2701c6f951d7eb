//! A small JSON reader for the head of a watch event (`type`, `object.kind`, `object.apiVersion`,
//! `object.metadata.name`, `object.metadata.namespace`), and for top-level string members of a
//! config. It is the Zig counterpart of `guest-sdk/src/head.rs`.
//!
//! It does not build a tree: it walks the members of the event object, descends only into
//! `object` and `object.metadata`, skips every other value, and stops as soon as each wanted field
//! is either seen or known to be absent (its object has ended). Nested members of the same name
//! (`ownerReferences[].kind`, `spec.template.metadata.name`, a label called `name`, ...) are never
//! taken for the ones asked for, and member order does not matter.
//!
//! Strings are slices of the input unless they contain escapes; those are decoded (including
//! `\uXXXX` surrogate pairs) into the given allocator. The text is checked to be UTF-8.

const std = @import("std");

/// The identifying fields of a watch event; `null` when absent or not a string.
pub const Head = struct {
    event_type: ?[]const u8 = null,
    api_version: ?[]const u8 = null,
    kind: ?[]const u8 = null,
    name: ?[]const u8 = null,
    namespace: ?[]const u8 = null,
};

pub const Error = error{ BadJson, OutOfMemory };

// Bits of the fields that are settled (seen, or known to be absent).
const TYPE: u8 = 1;
const API_VERSION: u8 = 2;
const KIND: u8 = 4;
const NAME: u8 = 8;
const NAMESPACE: u8 = 16;
const METADATA: u8 = NAME | NAMESPACE;
const OBJECT: u8 = API_VERSION | KIND | METADATA;
const ALL: u8 = TYPE | OBJECT;

/// Reads the head of the watch event `json`. On `error.BadJson`, `reader.message` and
/// `reader.pos` say what and where.
pub fn read(reader: *Reader) Error!Head {
    var head: Head = .{};
    var settled: u8 = 0;
    if (try reader.peek() != '{') return reader.fail("the event is not a JSON object");
    var members = try reader.object();
    const stopped = while (try members.next()) |key| {
        if (std.mem.eql(u8, key, "type")) {
            head.event_type = try reader.optString();
            settled |= TYPE;
        } else if (std.mem.eql(u8, key, "object") and try reader.peek() == '{') {
            if (try readObject(reader, &head, &settled)) break true;
            settled |= OBJECT;
        } else {
            try reader.skipValue();
        }
        if (settled == ALL) break true;
    } else false;
    if (stopped) try reader.ensureClosed() else try reader.ensureEnd();
    return head;
}

/// `kind`, `apiVersion` and `metadata` of the event's object; true when it stopped early.
fn readObject(reader: *Reader, head: *Head, settled: *u8) Error!bool {
    var members = try reader.object();
    while (try members.next()) |key| {
        if (std.mem.eql(u8, key, "kind")) {
            head.kind = try reader.optString();
            settled.* |= KIND;
        } else if (std.mem.eql(u8, key, "apiVersion")) {
            head.api_version = try reader.optString();
            settled.* |= API_VERSION;
        } else if (std.mem.eql(u8, key, "metadata") and try reader.peek() == '{') {
            if (try readMetadata(reader, head, settled)) return true;
            settled.* |= METADATA;
        } else {
            try reader.skipValue();
        }
        if (settled.* == ALL) return true;
    }
    return false;
}

/// `name` and `namespace` in `metadata`; true when it stopped early.
fn readMetadata(reader: *Reader, head: *Head, settled: *u8) Error!bool {
    var members = try reader.object();
    while (try members.next()) |key| {
        if (std.mem.eql(u8, key, "name")) {
            head.name = try reader.optString();
            settled.* |= NAME;
        } else if (std.mem.eql(u8, key, "namespace")) {
            head.namespace = try reader.optString();
            settled.* |= NAMESPACE;
        } else {
            try reader.skipValue();
        }
        if (settled.* == ALL) return true;
    }
    return false;
}

/// The string member `name` of the top-level object `json`: `null` when absent or `null`,
/// `error.BadJson` when it is another type (`reader.message` says so) or the JSON is malformed.
pub fn topLevelString(reader: *Reader, name: []const u8) Error!?[]const u8 {
    if (try reader.peek() != '{') return reader.fail("expected a JSON object");
    var found: ?[]const u8 = null;
    var members = try reader.object();
    while (try members.next()) |key| {
        if (!std.mem.eql(u8, key, name)) {
            try reader.skipValue();
        } else if (try reader.peek() == '"') {
            found = try reader.string();
        } else if (try reader.literal("null")) {
            found = null;
        } else {
            return reader.fail("expected a string");
        }
    }
    try reader.ensureEnd();
    return found;
}

/// A cursor over JSON bytes. Decoded strings are allocated with `allocator`.
pub const Reader = struct {
    bytes: []const u8,
    allocator: std.mem.Allocator,
    pos: usize = 0,
    /// Why reading failed, after `error.BadJson`.
    message: []const u8 = "",

    fn fail(self: *Reader, message: []const u8) error{BadJson} {
        self.message = message;
        return error.BadJson;
    }

    fn truncated(self: *Reader) error{BadJson} {
        return self.fail("the JSON is truncated");
    }

    /// The next non-whitespace byte, not consumed.
    pub fn peek(self: *Reader) Error!u8 {
        while (self.pos < self.bytes.len) : (self.pos += 1) {
            switch (self.bytes[self.pos]) {
                ' ', '\n', '\r', '\t' => {},
                else => |byte| return byte,
            }
        }
        return self.truncated();
    }

    fn expect(self: *Reader, byte: u8, message: []const u8) Error!void {
        if (try self.peek() != byte) return self.fail(message);
        self.pos += 1;
    }

    /// Consumes `word` (e.g. `null`) if it comes next.
    fn literal(self: *Reader, word: []const u8) Error!bool {
        _ = try self.peek();
        if (!std.mem.startsWith(u8, self.bytes[self.pos..], word)) return false;
        self.pos += word.len;
        return true;
    }

    /// After a complete document: only whitespace may follow.
    fn ensureEnd(self: *Reader) Error!void {
        _ = self.peek() catch return;
        return self.fail("unexpected data after the JSON object");
    }

    /// After stopping early, the cheap check on the unread tail: the document ends with `}`, which
    /// catches a line cut off in transit.
    fn ensureClosed(self: *Reader) Error!void {
        const trimmed = std.mem.trimRight(u8, self.bytes, " \n\r\t");
        if (trimmed.len == 0 or trimmed[trimmed.len - 1] != '}') {
            self.pos = self.bytes.len;
            return self.truncated();
        }
    }

    /// Starts reading an object: call `next()` for each key, then consume its value.
    pub fn object(self: *Reader) Error!Members {
        try self.expect('{', "expected an object");
        return .{ .reader = self };
    }

    pub const Members = struct {
        reader: *Reader,
        first: bool = true,

        /// The next member's key (the reader then stands at its value), or `null` after `}`.
        pub fn next(self: *Members) Error!?[]const u8 {
            const r = self.reader;
            const byte = try r.peek();
            if (byte == '}') {
                r.pos += 1;
                return null;
            }
            if (!self.first) {
                if (byte != ',') return r.fail("expected `,` or `}`");
                r.pos += 1;
            }
            self.first = false;
            if (try r.peek() != '"') return r.fail("expected a string key");
            const key = try r.string();
            try r.expect(':', "expected `:`");
            return key;
        }
    };

    /// A string value, or `null` (the value skipped) if it is not a string.
    pub fn optString(self: *Reader) Error!?[]const u8 {
        if (try self.peek() == '"') return try self.string();
        try self.skipValue();
        return null;
    }

    /// The string at the cursor: a slice of the input, or decoded if it has escapes.
    pub fn string(self: *Reader) Error![]const u8 {
        try self.expect('"', "expected a string");
        const start = self.pos;
        while (self.pos < self.bytes.len) : (self.pos += 1) {
            switch (self.bytes[self.pos]) {
                '"' => {
                    const text = try self.utf8(start, self.pos);
                    self.pos += 1;
                    return text;
                },
                '\\' => return self.escapedString(start),
                0...0x1f => return self.fail("control character in string"),
                else => {},
            }
        }
        return self.truncated();
    }

    fn utf8(self: *Reader, start: usize, end: usize) Error![]const u8 {
        const text = self.bytes[start..end];
        if (!std.unicode.utf8ValidateSlice(text)) {
            self.pos = start;
            return self.fail("invalid UTF-8 in string");
        }
        return text;
    }

    /// Decodes a string with escapes; `start` is just after the opening quote.
    fn escapedString(self: *Reader, start: usize) Error![]const u8 {
        var out: std.ArrayList(u8) = .empty;
        try out.appendSlice(self.allocator, try self.utf8(start, self.pos));
        while (true) {
            const run = self.pos;
            while (self.pos < self.bytes.len) : (self.pos += 1) {
                const byte = self.bytes[self.pos];
                if (byte == '"' or byte == '\\' or byte < 0x20) break;
            }
            try out.appendSlice(self.allocator, try self.utf8(run, self.pos));
            if (self.pos >= self.bytes.len) return self.truncated();
            switch (self.bytes[self.pos]) {
                '"' => {
                    self.pos += 1;
                    return out.items;
                },
                '\\' => {
                    if (self.pos + 1 >= self.bytes.len) return self.truncated();
                    const escape = self.bytes[self.pos + 1];
                    self.pos += 2;
                    const byte: u8 = switch (escape) {
                        '"', '\\', '/' => escape,
                        'b' => 0x08,
                        'f' => 0x0c,
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            var buf: [4]u8 = undefined;
                            const n = std.unicode.utf8Encode(try self.unicodeEscape(), &buf) catch
                                return self.fail("invalid \\u escape");
                            try out.appendSlice(self.allocator, buf[0..n]);
                            continue;
                        },
                        else => return self.fail("invalid escape"),
                    };
                    try out.append(self.allocator, byte);
                },
                else => return self.fail("control character in string"),
            }
        }
    }

    /// The code point of a `\uXXXX` escape (the cursor after `\u`), joining surrogate pairs.
    fn unicodeEscape(self: *Reader) Error!u21 {
        const high = try self.hex4();
        switch (high) {
            0xD800...0xDBFF => {
                if (!std.mem.startsWith(u8, self.bytes[self.pos..], "\\u"))
                    return self.fail("unpaired surrogate");
                self.pos += 2;
                const low = try self.hex4();
                if (low < 0xDC00 or low > 0xDFFF) return self.fail("unpaired surrogate");
                return 0x10000 + ((@as(u21, high) - 0xD800) << 10) + (low - 0xDC00);
            },
            0xDC00...0xDFFF => return self.fail("unpaired surrogate"),
            else => return high,
        }
    }

    fn hex4(self: *Reader) Error!u16 {
        if (self.pos + 4 > self.bytes.len) return self.truncated();
        const value = std.fmt.parseUnsigned(u16, self.bytes[self.pos..][0..4], 16) catch
            return self.fail("invalid \\u escape");
        self.pos += 4;
        return value;
    }

    /// Skips one value of any type. Containers are skipped without recursion (no stack use),
    /// checking only that brackets and strings are well formed.
    pub fn skipValue(self: *Reader) Error!void {
        var depth: usize = 0;
        while (true) {
            switch (try self.peek()) {
                '"' => try self.skipString(),
                '{', '[' => {
                    depth += 1;
                    self.pos += 1;
                },
                '}', ']' => {
                    if (depth == 0) return self.fail("unexpected end of container");
                    depth -= 1;
                    self.pos += 1;
                },
                ',', ':' => {
                    if (depth == 0) return self.fail("expected a value");
                    self.pos += 1;
                    continue;
                },
                else => {
                    // A number or literal: up to the next delimiter.
                    const start = self.pos;
                    while (self.pos < self.bytes.len) : (self.pos += 1) {
                        switch (self.bytes[self.pos]) {
                            ',', '}', ']', ' ', '\n', '\r', '\t' => break,
                            else => {},
                        }
                    }
                    if (self.pos == start) return self.fail("expected a value");
                },
            }
            if (depth == 0) return;
        }
    }

    /// Skips the string at the cursor without decoding it.
    fn skipString(self: *Reader) Error!void {
        self.pos += 1;
        while (self.pos < self.bytes.len) : (self.pos += 1) {
            switch (self.bytes[self.pos]) {
                '"' => {
                    self.pos += 1;
                    return;
                },
                '\\' => self.pos += 1,
                else => {},
            }
        }
        return self.truncated();
    }
};

test "identity, nested members and escapes" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const json =
        \\{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"rs"}],
        \\"labels":{"kind":"k","name":"n"},"annotations":{"metadata":"{\"name\":\"fake\"}"},
        \\"name":"caf\u00e9-\ud83d\ude80 \"q\"","namespace":"shop"},
        \\"spec":{"template":{"kind":"Inner","metadata":{"name":"inner"}}},"kind":"Po\u0064"},
        \\"type":"MODIFIED"}
    ;
    var reader: Reader = .{ .bytes = json, .allocator = arena.allocator() };
    const head = try read(&reader);
    try std.testing.expectEqualStrings("Pod", head.kind.?);
    try std.testing.expectEqualStrings("café-🚀 \"q\"", head.name.?);
    try std.testing.expectEqualStrings("shop", head.namespace.?);
    try std.testing.expectEqualStrings("MODIFIED", head.event_type.?);
    try std.testing.expect(head.api_version == null);
}

test "stops early, but catches a cut-off line" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const good = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":GARBAGE}";
    var reader: Reader = .{ .bytes = good, .allocator = arena.allocator() };
    try std.testing.expectEqualStrings("n", (try read(&reader)).name.?);
    const cut = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":{\"a\":\"b";
    reader = .{ .bytes = cut, .allocator = arena.allocator() };
    try std.testing.expectError(error.BadJson, read(&reader));
    reader = .{ .bytes = "{\"x\":\"\\ud800\"}", .allocator = arena.allocator() };
    try std.testing.expectError(error.BadJson, topLevelString(&reader, "x"));
    try std.testing.expectEqualStrings("unpaired surrogate", reader.message);
}

test "config strings" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const config = "{ \"other\": {\"prefix\": 1}, \"prefix\" : \"[\\u00e9] \", \"n\": null }";
    var reader: Reader = .{ .bytes = config, .allocator = arena.allocator() };
    try std.testing.expectEqualStrings("[é] ", (try topLevelString(&reader, "prefix")).?);
    reader = .{ .bytes = config, .allocator = arena.allocator() };
    try std.testing.expect(try topLevelString(&reader, "n") == null);
    reader = .{ .bytes = config, .allocator = arena.allocator() };
    try std.testing.expect(try topLevelString(&reader, "missing") == null);
    reader = .{ .bytes = config, .allocator = arena.allocator() };
    try std.testing.expectError(error.BadJson, topLevelString(&reader, "other"));
}
