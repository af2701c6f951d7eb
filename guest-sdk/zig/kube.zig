//! `ec.kube`: Kubernetes reads and writes through the host's `event_controller.kube_request`
//! import, a capability (docs/ABI.md §6, "kube_request"). The Zig counterpart of the Rust SDK's
//! `event_controller_guest::kube` and the Go helper's `eventcontroller/guest/kube`.
//!
//! One function per verb builds the request JSON (with `std.json`, so every string is escaped),
//! calls `kube_request`, and returns the parsed answer, a `Response`:
//!
//!     const r = try ec.kube.get(event.arena, "configmaps", .{ .namespace = "shop", .name = "settings" });
//!     if (r.host_error) |why| { ... }            // the host did not ask: `denied: ...`, a timeout
//!     else if (r.status == 404) { ... }         // the API server's answer: any status
//!     else if (r.isSuccess()) { ... r.object ... } // a std.json.Value
//!
//! `list` (namespace, label and field selectors), `create`, `apply` (`.force`), `patch` (an RFC
//! 7386 merge patch) and `delete` work the same way. An object or patch is anything `std.json`
//! can write: a struct (optional fields that are `null` are left out; a literal `null` is kept,
//! which is how a merge patch removes a member), a `std.json.Value`, or JSON text wrapped in
//! `ec.kube.raw("{...}")`.
//!
//! Memory: every `Response` lives in an arena of its own, allocated from the allocator passed in
//! (`Response.deinit` frees it, like `std.json.Parsed`). With `event.arena` there is nothing to
//! free: the arena is reset after the event. The host's answer buffer is copied into that arena
//! and handed back to the host allocator at once (`dealloc`).
//!
//! Loop safety (docs/ABI.md §6): `ensure` and `removeOwned` write only objects that carry the
//! owner label `app.kubernetes.io/managed-by=OWNER`, and only when something differs, so a
//! plugin that watches what it writes does not loop on its own writes.
//!
//! Natively (`zig test`) there is no host: requests go to the transport installed with
//! `ec.kube.mock.set`, typically an in-memory `ec.kube.FakeCluster` (see kube_mock.zig).

const std = @import("std");
const builtin = @import("builtin");
const ec = @import("ec.zig");

/// Test doubles for native builds: `set` a transport, or `FakeCluster`.
pub const mock = @import("kube_mock.zig");
/// An in-memory API server for native tests (`mock.FakeCluster`).
pub const FakeCluster = mock.FakeCluster;

const Allocator = std.mem.Allocator;
const Value = std.json.Value;

/// The request verbs the host knows.
pub const Verb = enum { get, list, create, apply, patch, delete };

/// Which object: `namespace` is `null` for a cluster-scoped resource.
pub const ObjectRef = struct {
    namespace: ?[]const u8 = null,
    name: []const u8,
};

pub const ListOptions = struct {
    /// `null`: every namespace (or a cluster-scoped resource).
    namespace: ?[]const u8 = null,
    /// E.g. `app.kubernetes.io/managed-by=me,tier!=db`.
    label_selector: ?[]const u8 = null,
    /// E.g. `metadata.name=web`, `status.phase=Running`.
    field_selector: ?[]const u8 = null,
};

pub const CreateOptions = struct {
    /// Sent beside the object; the object's own `metadata.namespace` serves as well.
    namespace: ?[]const u8 = null,
};

pub const ApplyOptions = struct {
    /// Sent beside the object; the object's own `metadata.namespace` serves as well.
    namespace: ?[]const u8 = null,
    /// Take over fields another field manager owns (default: such a conflict is a 409).
    force: bool = false,
};

/// One `kube_request`, as the host reads it. Fields a verb does not use stay `null` and are left
/// out of the JSON. `object` and `patch` are JSON text, written into the request as they are.
pub const Request = struct {
    verb: Verb,
    /// As the operator granted it, e.g. `configmaps`, `routes.route.openshift.io`.
    resource: []const u8,
    namespace: ?[]const u8 = null,
    name: ?[]const u8 = null,
    /// `patch`: the RFC 7386 merge patch, as JSON text.
    patch: ?[]const u8 = null,
    /// `create`, `apply`: the object, as JSON text.
    object: ?[]const u8 = null,
    label_selector: ?[]const u8 = null,
    field_selector: ?[]const u8 = null,
    /// `apply` only; written only when true.
    force: bool = false,

    /// `std.json` hook: `{"verb":..,"resource":..,"namespace":..,...}` in the Rust SDK's member
    /// order, `null` members left out.
    pub fn jsonStringify(self: Request, jws: anytype) !void {
        try jws.beginObject();
        try jws.objectField("verb");
        try jws.write(@tagName(self.verb));
        try jws.objectField("resource");
        try jws.write(self.resource);
        inline for (.{ "namespace", "name" }) |field| {
            if (@field(self, field)) |text| {
                try jws.objectField(field);
                try jws.write(text);
            }
        }
        inline for (.{ "patch", "object" }) |field| {
            if (@field(self, field)) |text| {
                try jws.objectField(field);
                try jws.print("{s}", .{text});
            }
        }
        inline for (.{ "label_selector", "field_selector" }) |field| {
            if (@field(self, field)) |text| {
                try jws.objectField(field);
                try jws.write(text);
            }
        }
        if (self.force) {
            try jws.objectField("force");
            try jws.write(true);
        }
        try jws.endObject();
    }

    /// The JSON handed to `kube_request`; the caller frees it with `gpa`.
    pub fn toJson(self: Request, gpa: Allocator) Allocator.Error![]u8 {
        return std.json.Stringify.valueAlloc(gpa, self, .{});
    }
};

/// JSON text to send as it is, as an object or a patch: `ec.kube.raw("{\"data\":{\"a\":\"1\"}}")`.
/// It must be valid JSON (the host refuses the request otherwise, `malformed request: ...`).
pub const RawJson = struct {
    text: []const u8,

    pub fn jsonStringify(self: RawJson, jws: anytype) !void {
        try jws.print("{s}", .{self.text});
    }
};

/// Wraps JSON text for `create`, `apply`, `patch` and `ensure`.
pub fn raw(text: []const u8) RawJson {
    return .{ .text = text };
}

/// The JSON text of an object or patch given as a struct, a `std.json.Value` or `raw(text)`;
/// `null` optional fields are left out. The caller frees it with `gpa`.
pub fn bodyJson(gpa: Allocator, body: anytype) Allocator.Error![]u8 {
    const T = @TypeOf(body);
    if (comptime isString(T))
        @compileError("pass JSON text as ec.kube.raw(text); a plain string would be sent as a JSON string");
    if (T == RawJson) return gpa.dupe(u8, body.text);
    return std.json.Stringify.valueAlloc(gpa, body, .{ .emit_null_optional_fields = false });
}

fn isString(comptime T: type) bool {
    return switch (@typeInfo(T)) {
        .pointer => |p| switch (p.size) {
            .slice, .many => p.child == u8,
            .one => switch (@typeInfo(p.child)) {
                .array => |a| a.child == u8,
                else => false,
            },
            else => false,
        },
        else => false,
    };
}

// ---------------------------------------------------------------------------------------------
// The answer

/// Why a request failed: the host's reason (`host_error`), classified by how it starts
/// (docs/ABI.md §6, "Why no response came"), or the API server's status.
pub const Failure = union(enum) {
    /// `denied ...`, `unknown verb ...`: not granted. Permanent: the operator's config must change.
    denied,
    /// `throttled ...`: over `max_writes_per_second`; nothing was sent. Retry later.
    throttled,
    /// `malformed request ...`, `invalid request ...`: a bug in the request. Permanent.
    invalid,
    /// `no Kubernetes connection ...` (`replay`), `env var ...`, `cannot read ...`.
    unavailable,
    /// Any other reason: a refused connection, a timeout, the call's deadline. Transient.
    no_response,
    /// The API server answered with this status, not 2xx.
    status: u16,

    /// Classifies a host reason by its prefix.
    pub fn ofReason(text: []const u8) Failure {
        const prefixes = [_]struct { []const u8, Failure }{
            .{ "denied", .denied },
            .{ "unknown verb", .denied },
            .{ "throttled", .throttled },
            .{ "malformed request", .invalid },
            .{ "invalid request", .invalid },
            .{ "env var ", .unavailable },
            .{ "cannot read ", .unavailable },
            .{ "no Kubernetes connection", .unavailable },
        };
        for (prefixes) |p| {
            if (std.mem.startsWith(u8, text, p[0])) return p[1];
        }
        return .no_response;
    }

    /// True when a retry may help: `throttled`, `no_response`, or a 5xx, 408 or 429 status.
    pub fn isTransient(self: Failure) bool {
        return switch (self) {
            .throttled, .no_response => true,
            .status => |s| isTransientStatus(s),
            else => false,
        };
    }
};

/// True for 5xx, 408 and 429: statuses that may be different later.
pub fn isTransientStatus(status: u16) bool {
    return status >= 500 or status == 408 or status == 429;
}

/// The host's answer to one request. Everything in it lives in `arena`; `deinit` frees it.
pub const Response = struct {
    /// The API server's HTTP status; `0` when the host gave no response (`host_error`).
    status: u16 = 0,
    /// The object read, created, applied, patched or deleted; `.null` on a refusal or a `list`.
    object: Value = .null,
    /// A `list`'s objects, every page.
    items: []const Value = &.{},
    /// A refusal's Status message (`configmaps "x" not found`); empty otherwise.
    message: []const u8 = "",
    /// The host's reason for not asking the API server (`{"error":"..."}`): not granted,
    /// throttled, no cluster connection, a timeout. `null` when the API server answered.
    host_error: ?[]const u8 = null,
    /// The answer's JSON as the host wrote it (`object` and `items` are parsed from it).
    raw: []const u8 = "",
    arena: *std.heap.ArenaAllocator,

    /// Frees everything the response holds.
    pub fn deinit(self: Response) void {
        const gpa = self.arena.child_allocator;
        self.arena.deinit();
        gpa.destroy(self.arena);
    }

    /// True for a 2xx status from the API server.
    pub fn isSuccess(self: Response) bool {
        return self.host_error == null and self.status >= 200 and self.status < 300;
    }

    /// Why it failed; `null` for a 2xx status.
    pub fn failure(self: Response) ?Failure {
        if (self.host_error) |text| return Failure.ofReason(text);
        if (self.isSuccess()) return null;
        return .{ .status = self.status };
    }

    /// True when a retry may help (see `Failure.isTransient`).
    pub fn isTransient(self: Response) bool {
        const f = self.failure() orelse return false;
        return f.isTransient();
    }

    /// The host's reason, else the API server's message: what to log about a failure.
    pub fn reason(self: Response) []const u8 {
        return self.host_error orelse self.message;
    }

    /// The object's `metadata.resourceVersion`, when it has one.
    pub fn resourceVersion(self: Response) ?[]const u8 {
        return lookupString(self.object, &.{ "metadata", "resourceVersion" });
    }

    /// `object` parsed into `T` (unknown fields ignored), in the response's arena.
    pub fn objectAs(self: Response, comptime T: type) std.json.ParseFromValueError!T {
        return std.json.parseFromValueLeaky(T, self.arena.allocator(), self.object, .{ .ignore_unknown_fields = true });
    }

    /// `items` parsed into `T`s (unknown fields ignored), in the response's arena.
    pub fn itemsAs(self: Response, comptime T: type) std.json.ParseFromValueError![]T {
        const a = self.arena.allocator();
        const out = try a.alloc(T, self.items.len);
        for (self.items, out) |item, *slot| {
            slot.* = try std.json.parseFromValueLeaky(T, a, item, .{ .ignore_unknown_fields = true });
        }
        return out;
    }
};

/// `OutOfMemory`, or `BadAnswer`: the host's answer is not the JSON docs/ABI.md §6 describes
/// (a bug of the host or of a test's mock transport).
pub const Error = error{ OutOfMemory, BadAnswer };

/// Reads the host's answer (`{"status":..}` or `{"error":..}`) into a `Response` allocated from
/// `gpa`; `text` is copied.
pub fn parseAnswer(gpa: Allocator, text: []const u8) Error!Response {
    const arena = try gpa.create(std.heap.ArenaAllocator);
    errdefer gpa.destroy(arena);
    arena.* = .init(gpa);
    errdefer arena.deinit();
    const a = arena.allocator();
    const copy = try a.dupe(u8, text);
    const Wire = struct {
        status: ?u16 = null,
        object: Value = .null,
        items: []const Value = &.{},
        message: []const u8 = "",
        @"error": ?[]const u8 = null,
    };
    const wire = std.json.parseFromSliceLeaky(Wire, a, copy, .{ .ignore_unknown_fields = true }) catch |e|
        return if (e == error.OutOfMemory) error.OutOfMemory else error.BadAnswer;
    if (wire.@"error") |why| return .{ .host_error = why, .raw = copy, .arena = arena };
    return .{
        .status = wire.status orelse return error.BadAnswer,
        .object = wire.object,
        .items = wire.items,
        .message = wire.message,
        .raw = copy,
        .arena = arena,
    };
}

// ---------------------------------------------------------------------------------------------
// The verbs

/// Sends `request` through the host and waits for its answer (it blocks the plugin and counts
/// against its `call_timeout_ms`). Any status is a `Response`, and so is the host's refusal
/// (`host_error`); errors are only `OutOfMemory` and `BadAnswer`.
pub fn send(gpa: Allocator, request: Request) Error!Response {
    const json = try request.toJson(gpa);
    defer gpa.free(json);
    const answered = try exchange(gpa, json);
    defer answered.allocator.free(answered.bytes);
    return parseAnswer(gpa, answered.bytes);
}

/// Reads the object `ref` of `resource` (granted under `read`).
pub fn get(gpa: Allocator, resource: []const u8, ref: ObjectRef) Error!Response {
    return send(gpa, .{ .verb = .get, .resource = resource, .namespace = ref.namespace, .name = ref.name });
}

/// Lists `resource` (granted under `read`), every page (the host follows `continue`).
pub fn list(gpa: Allocator, resource: []const u8, options: ListOptions) Error!Response {
    return send(gpa, .{
        .verb = .list,
        .resource = resource,
        .namespace = options.namespace,
        .label_selector = options.label_selector,
        .field_selector = options.field_selector,
    });
}

/// Creates `object` (its `metadata` names it: `name` or `generateName`, and the namespace).
/// On a real API server the fields it sets belong to the plugin's field manager as an update,
/// which a later plain `apply` conflicts with (409): see `apply`'s `force`, or use `ensure`.
pub fn create(gpa: Allocator, resource: []const u8, object: anytype, options: CreateOptions) Error!Response {
    const body = try bodyJson(gpa, object);
    defer gpa.free(body);
    return send(gpa, .{ .verb = .create, .resource = resource, .namespace = options.namespace, .object = body });
}

/// Server-side applies `object` (with `metadata.name`) under the plugin's field manager.
pub fn apply(gpa: Allocator, resource: []const u8, object: anytype, options: ApplyOptions) Error!Response {
    const body = try bodyJson(gpa, object);
    defer gpa.free(body);
    return send(gpa, .{
        .verb = .apply,
        .resource = resource,
        .namespace = options.namespace,
        .object = body,
        .force = options.force,
    });
}

/// Merge-patches (RFC 7386: a `null` member removes it) the object `ref` of `resource`.
pub fn patch(gpa: Allocator, resource: []const u8, ref: ObjectRef, merge_patch: anytype) Error!Response {
    const body = try bodyJson(gpa, merge_patch);
    defer gpa.free(body);
    return send(gpa, .{ .verb = .patch, .resource = resource, .namespace = ref.namespace, .name = ref.name, .patch = body });
}

/// Deletes the object `ref` of `resource`; the answer holds the deleted object.
pub fn delete(gpa: Allocator, resource: []const u8, ref: ObjectRef) Error!Response {
    return send(gpa, .{ .verb = .delete, .resource = resource, .namespace = ref.namespace, .name = ref.name });
}

const host = struct {
    extern "event_controller" fn kube_request(ptr: [*]const u8, len: usize) i64;
};

/// An answer and the allocator that frees it.
const Answered = struct { bytes: []u8, allocator: Allocator };

fn exchange(gpa: Allocator, request: []const u8) Error!Answered {
    if (comptime builtin.target.cpu.arch.isWasm()) {
        // The host wrote the answer into a buffer from our `alloc(len)`: it is ours to
        // `dealloc`, which is `ec.allocator.free`.
        const bits: u64 = @bitCast(host.kube_request(request.ptr, request.len));
        const ptr: usize = @intCast(bits >> 32);
        const len: usize = @intCast(bits & 0xffff_ffff);
        if (ptr == 0 or len == 0) return error.BadAnswer;
        const bytes: [*]u8 = @ptrFromInt(ptr);
        return .{ .bytes = bytes[0..len], .allocator = ec.allocator };
    } else {
        return .{ .bytes = try mock.exchange(gpa, request), .allocator = gpa };
    }
}

// ---------------------------------------------------------------------------------------------
// JSON values

/// The member at `keys` inside nested objects; `null` when a step is missing or not an object.
pub fn lookup(value: Value, keys: []const []const u8) ?Value {
    var at = value;
    for (keys) |key| {
        if (at != .object) return null;
        at = at.object.get(key) orelse return null;
    }
    return at;
}

/// The string at `keys` (see `lookup`); `null` when absent or not a string.
pub fn lookupString(value: Value, keys: []const []const u8) ?[]const u8 {
    const found = lookup(value, keys) orelse return null;
    return if (found == .string) found.string else null;
}

/// Equality of JSON values, numbers by value (`1` equals `1.0`), objects member by member in
/// any order.
pub fn valuesEqual(a: Value, b: Value) bool {
    if (number(a)) |x| return if (number(b)) |y| x == y else false;
    return switch (a) {
        .null => b == .null,
        .bool => |x| b == .bool and b.bool == x,
        .string => |x| b == .string and std.mem.eql(u8, x, b.string),
        .array => |x| b == .array and x.items.len == b.array.items.len and for (x.items, b.array.items) |p, q| {
            if (!valuesEqual(p, q)) break false;
        } else true,
        .object => |x| b == .object and x.count() == b.object.count() and for (x.keys(), x.values()) |k, v| {
            const other = b.object.get(k) orelse break false;
            if (!valuesEqual(v, other)) break false;
        } else true,
        .integer, .float, .number_string => unreachable,
    };
}

fn number(v: Value) ?f64 {
    return switch (v) {
        .integer => |i| @floatFromInt(i),
        .float => |f| f,
        .number_string => |s| std.fmt.parseFloat(f64, s) catch null,
        else => null,
    };
}

// ---------------------------------------------------------------------------------------------
// Owned objects and loop safety

/// The label that marks a plugin's own objects; its value is the owner (usually the plugin's
/// name). Give the grant `label_selector = "app.kubernetes.io/managed-by=OWNER"` and the host
/// refuses every write to an object without it.
pub const owner_label = "app.kubernetes.io/managed-by";

/// `app.kubernetes.io/managed-by=OWNER`, for a `list` and for the grant's `label_selector`.
pub fn ownerSelector(gpa: Allocator, owner: []const u8) Allocator.Error![]u8 {
    return std.mem.concat(gpa, u8, &.{ owner_label, "=", owner });
}

/// True when `object` carries the owner label with the value `owner`.
pub fn isOwned(object: Value, owner: []const u8) bool {
    const value = lookupString(object, &.{ "metadata", "labels", owner_label }) orelse return false;
    return std.mem.eql(u8, value, owner);
}

/// True when every field `desired` sets is in `current` with the same value: objects member by
/// member (members `desired` lacks are ignored, such as those the API server defaults; a `null`
/// member must be absent; an empty object matches only an empty object), arrays element by
/// element (the same length), anything else equal. As the Rust SDK's `kube::contains`.
pub fn contains(current: Value, desired: Value) bool {
    if (current == .object and desired == .object) {
        const have = current.object;
        const want = desired.object;
        if (want.count() == 0) return have.count() == 0;
        for (want.keys(), want.values()) |key, value| {
            if (have.get(key)) |got| {
                if (!contains(got, value)) return false;
            } else if (value != .null) return false;
        }
        return true;
    }
    if (current == .array and desired == .array) {
        if (current.array.items.len != desired.array.items.len) return false;
        for (current.array.items, desired.array.items) |c, d| {
            if (!contains(c, d)) return false;
        }
        return true;
    }
    return valuesEqual(current, desired);
}

/// True when `current` has every field of `desired` that `ensure` compares: its top-level fields
/// other than `apiVersion`, `kind`, `metadata` and `status` (`spec`, `data`...), and its
/// `metadata.labels` and `metadata.annotations` (only the desired ones: others may add theirs).
pub fn matchesDesired(current: Value, desired: Value) bool {
    if (desired != .object) return false;
    for (desired.object.keys(), desired.object.values()) |key, value| {
        for ([_][]const u8{ "apiVersion", "kind", "metadata", "status" }) |skip| {
            if (std.mem.eql(u8, key, skip)) break;
        } else {
            const got = lookup(current, &.{key}) orelse Value.null;
            if (!contains(got, value)) return false;
        }
    }
    for ([_][]const u8{ "labels", "annotations" }) |key| {
        const want = lookup(desired, &.{ "metadata", key }) orelse continue;
        if (want == .null or (want == .object and want.object.count() == 0)) continue;
        const got = lookup(current, &.{ "metadata", key }) orelse Value.null;
        if (!contains(got, want)) return false;
    }
    return true;
}

/// A request refused by the API server (`response.status`) or by the host
/// (`response.host_error`), with the verb that was refused.
pub const Refusal = struct {
    verb: Verb,
    response: Response,
};

/// What `ensure` did. Every variant holds a response the caller frees with `deinit`.
pub const Ensured = union(enum) {
    /// Absent: created with the owner label (the `create` answer).
    created: Response,
    /// Owned and different: its fields were applied, forced (the `apply` answer).
    updated: Response,
    /// Owned, with every desired field: nothing written (the `get` answer).
    unchanged: Response,
    /// Present without the owner label, or another owner's: left alone (the `get` answer).
    not_owned: Response,
    /// `get`, `create` or `apply` was refused (a `create` refused with 409: someone created
    /// it in between).
    refused: Refusal,

    /// True when it wrote: `created` or `updated`.
    pub fn wrote(self: Ensured) bool {
        return self == .created or self == .updated;
    }

    /// The answer it ends with.
    pub fn response(self: Ensured) Response {
        return switch (self) {
            .refused => |f| f.response,
            inline else => |r| r,
        };
    }

    pub fn deinit(self: Ensured) void {
        self.response().deinit();
    }
};

/// What `removeOwned` did.
pub const Removed = union(enum) {
    /// The owner's object was deleted (the `delete` answer).
    deleted: Response,
    /// There was no such object (also when it went between the two requests).
    absent,
    /// It exists without the owner's label: left alone (the `get` answer).
    not_owned: Response,
    /// `get` or `delete` was refused (a `delete` refused with 409: it changed in between).
    refused: Refusal,

    pub fn deinit(self: Removed) void {
        switch (self) {
            .absent => {},
            .refused => |f| f.response.deinit(),
            inline else => |r| r.deinit(),
        }
    }
};

/// Makes the object `desired` describes exist with the fields it sets, owned by `owner`, writing
/// only when something differs. `desired` (a struct, a `std.json.Value` or `raw(text)`) is the
/// whole object as it should be created: `apiVersion`, `kind`, `metadata` with `name` (and
/// `namespace` for a namespaced resource), and the fields to keep in line (`spec`, `data`...).
/// The owner label is added to its labels.
///
/// 1. `get`. Absent (404): `create`, `.created`.
/// 2. Present without the owner label (or another owner's): `.not_owned`, nothing written.
/// 3. Owned, with every field of `desired` (`matchesDesired`): `.unchanged`, nothing written:
///    what the event caused by the plugin's own write finds, so a write never leads to another.
/// 4. Owned and different: `apply` with force (the owner takes back fields someone else
///    changed, and the fields `create` set under its own manager entry), `.updated`.
///
/// Any refusal, the API server's or the host's, is `.refused`. `error.InvalidDesired` when
/// `desired` is not a JSON object with a string `metadata.name`. Grant the plugin `read` and
/// `create`/`apply` on the resource. Limitation: a member removed from `desired` is not removed
/// from the object.
pub fn ensure(gpa: Allocator, resource: []const u8, desired: anytype, owner: []const u8) (Error || error{InvalidDesired})!Ensured {
    var scratch: std.heap.ArenaAllocator = .init(gpa);
    defer scratch.deinit();
    const s = scratch.allocator();
    var object = std.json.parseFromSliceLeaky(Value, s, try bodyJson(s, desired), .{}) catch |e|
        return if (e == error.OutOfMemory) error.OutOfMemory else error.InvalidDesired;
    const name = lookupString(object, &.{ "metadata", "name" }) orelse return error.InvalidDesired;
    const namespace = lookupString(object, &.{ "metadata", "namespace" });
    const metadata = &object.object.getPtr("metadata").?.object;
    const labels = try metadata.getOrPut("labels");
    if (!labels.found_existing or labels.value_ptr.* != .object) labels.value_ptr.* = .{ .object = .init(s) };
    try labels.value_ptr.object.put(owner_label, .{ .string = owner });
    const body = try std.json.Stringify.valueAlloc(s, object, .{});

    const current = try get(gpa, resource, .{ .namespace = namespace, .name = name });
    if (current.host_error == null and current.status == 404) {
        current.deinit();
        const created = try send(gpa, .{ .verb = .create, .resource = resource, .object = body });
        if (!created.isSuccess()) return .{ .refused = .{ .verb = .create, .response = created } };
        return .{ .created = created };
    }
    if (!current.isSuccess()) return .{ .refused = .{ .verb = .get, .response = current } };
    if (!isOwned(current.object, owner)) return .{ .not_owned = current };
    if (matchesDesired(current.object, object)) return .{ .unchanged = current };
    current.deinit();
    const applied = try send(gpa, .{ .verb = .apply, .resource = resource, .object = body, .force = true });
    if (!applied.isSuccess()) return .{ .refused = .{ .verb = .apply, .response = applied } };
    return .{ .updated = applied };
}

/// Deletes the object `ref` of `resource` only if it carries the owner label with the value
/// `owner`: `get`, then `delete`. Grant `read` and `delete`.
pub fn removeOwned(gpa: Allocator, resource: []const u8, ref: ObjectRef, owner: []const u8) Error!Removed {
    const current = try get(gpa, resource, ref);
    if (current.host_error == null and current.status == 404) {
        current.deinit();
        return .absent;
    }
    if (!current.isSuccess()) return .{ .refused = .{ .verb = .get, .response = current } };
    if (!isOwned(current.object, owner)) return .{ .not_owned = current };
    current.deinit();
    const deleted = try delete(gpa, resource, ref);
    if (deleted.isSuccess()) return .{ .deleted = deleted };
    if (deleted.host_error == null and deleted.status == 404) {
        deleted.deinit();
        return .absent;
    }
    return .{ .refused = .{ .verb = .delete, .response = deleted } };
}

// ---------------------------------------------------------------------------------------------
// Tests (natively, through the mock transports)

const testing = std.testing;

/// A transport that keeps the last request's JSON and answers with `answer_text`.
const Recording = struct {
    last: ?[]u8 = null,
    answer_text: []const u8 = "{\"status\":200,\"object\":{}}",
    gpa: Allocator = testing.allocator,

    fn transport(self: *Recording) mock.Transport {
        return .{ .context = self, .answer = answerFn };
    }

    fn answerFn(context: ?*anyopaque, gpa: Allocator, request: []const u8) Allocator.Error![]u8 {
        const self: *Recording = @ptrCast(@alignCast(context.?));
        if (self.last) |old| self.gpa.free(old);
        self.last = try self.gpa.dupe(u8, request);
        return gpa.dupe(u8, self.answer_text);
    }

    fn deinit(self: *Recording) void {
        if (self.last) |old| self.gpa.free(old);
    }
};

fn expectSent(recording: *const Recording, sent: Error!Response, json: []const u8) !void {
    const response = try sent;
    defer response.deinit();
    try testing.expect(response.isSuccess());
    try testing.expectEqualStrings(json, recording.last.?);
}

test "every verb writes the request JSON the host reads" {
    const gpa = testing.allocator;
    var recording: Recording = .{};
    defer recording.deinit();
    const previous = mock.set(recording.transport());
    defer _ = mock.set(previous);

    const Cm = struct {
        apiVersion: []const u8 = "v1",
        kind: []const u8 = "ConfigMap",
        metadata: struct { namespace: []const u8, name: []const u8, labels: ?struct { a: []const u8 } = null },
        data: ?struct { k: []const u8 } = null,
    };
    const object: Cm = .{ .metadata = .{ .namespace = "shop", .name = "a\"b" } };
    try expectSent(&recording, get(gpa, "configmaps", .{ .namespace = "shop", .name = "a" }),
        \\{"verb":"get","resource":"configmaps","namespace":"shop","name":"a"}
    );
    try expectSent(&recording, get(gpa, "nodes", .{ .name = "n1" }),
        \\{"verb":"get","resource":"nodes","name":"n1"}
    );
    try expectSent(&recording, list(gpa, "configmaps", .{}),
        \\{"verb":"list","resource":"configmaps"}
    );
    try expectSent(&recording, list(gpa, "pods", .{ .namespace = "shop", .label_selector = "app=web,tier!=db", .field_selector = "status.phase=Running" }),
        \\{"verb":"list","resource":"pods","namespace":"shop","label_selector":"app=web,tier!=db","field_selector":"status.phase=Running"}
    );
    try expectSent(&recording, create(gpa, "configmaps", object, .{}),
        \\{"verb":"create","resource":"configmaps","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"shop","name":"a\"b"}}}
    );
    try expectSent(&recording, create(gpa, "configmaps", raw("{\"metadata\":{\"generateName\":\"x-\"}}"), .{ .namespace = "shop" }),
        \\{"verb":"create","resource":"configmaps","namespace":"shop","object":{"metadata":{"generateName":"x-"}}}
    );
    try expectSent(&recording, apply(gpa, "configmaps", raw("{\"metadata\":{\"name\":\"a\"}}"), .{ .force = true }),
        \\{"verb":"apply","resource":"configmaps","object":{"metadata":{"name":"a"}},"force":true}
    );
    try expectSent(&recording, apply(gpa, "configmaps", raw("{}"), .{ .namespace = "shop" }),
        \\{"verb":"apply","resource":"configmaps","namespace":"shop","object":{}}
    );
    try expectSent(&recording, patch(gpa, "nodes", .{ .name = "n1" }, .{ .metadata = .{ .labels = .{ .a = null, .b = "\n" } } }),
        \\{"verb":"patch","resource":"nodes","name":"n1","patch":{"metadata":{"labels":{"a":null,"b":"\n"}}}}
    );
    try expectSent(&recording, delete(gpa, "routes.route.openshift.io", .{ .namespace = "shop", .name = "web" }),
        \\{"verb":"delete","resource":"routes.route.openshift.io","namespace":"shop","name":"web"}
    );
    // A std.json.Value is written as it is.
    var parsed = try std.json.parseFromSlice(Value, gpa, "{\"data\":{\"k\":\"v\",\"gone\":null}}", .{});
    defer parsed.deinit();
    const patched = try patch(gpa, "configmaps", .{ .namespace = "shop", .name = "a" }, parsed.value);
    defer patched.deinit();
    try testing.expectEqualStrings(
        "{\"verb\":\"patch\",\"resource\":\"configmaps\",\"namespace\":\"shop\",\"name\":\"a\",\"patch\":{\"data\":{\"k\":\"v\",\"gone\":null}}}",
        recording.last.?,
    );
}

test "answers: objects, lists, refusals, host errors, bad answers" {
    const gpa = testing.allocator;
    {
        const r = try parseAnswer(gpa, "{\"status\":201,\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"7\"},\"data\":{\"k\":\"v\"}}}");
        defer r.deinit();
        try testing.expect(r.isSuccess());
        try testing.expectEqual(@as(u16, 201), r.status);
        try testing.expectEqual(@as(?Failure, null), r.failure());
        try testing.expectEqualStrings("7", r.resourceVersion().?);
        try testing.expectEqualStrings("v", lookupString(r.object, &.{ "data", "k" }).?);
        const Cm = struct { kind: []const u8, data: struct { k: []const u8 } };
        const cm = try r.objectAs(Cm);
        try testing.expectEqualStrings("ConfigMap", cm.kind);
        try testing.expectEqualStrings("v", cm.data.k);
    }
    {
        const r = try parseAnswer(gpa, "{\"status\":200,\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}");
        defer r.deinit();
        try testing.expectEqual(@as(usize, 2), r.items.len);
        const Named = struct { metadata: struct { name: []const u8 } };
        const items = try r.itemsAs(Named);
        try testing.expectEqualStrings("b", items[1].metadata.name);
        try testing.expect(r.object == .null);
    }
    {
        const r = try parseAnswer(gpa, "{\"status\":409,\"message\":\"configmaps \\\"a\\\" already exists\"}");
        defer r.deinit();
        try testing.expect(!r.isSuccess());
        try testing.expectEqual(Failure{ .status = 409 }, r.failure().?);
        try testing.expect(!r.isTransient());
        try testing.expectEqualStrings("configmaps \"a\" already exists", r.reason());
    }
    {
        const r = try parseAnswer(gpa, "{\"status\":503,\"message\":\"etcd\"}");
        defer r.deinit();
        try testing.expect(r.isTransient());
    }
    {
        const r = try parseAnswer(gpa, "{\"error\":\"denied: plugin p may not delete secrets\"}");
        defer r.deinit();
        try testing.expect(!r.isSuccess());
        try testing.expectEqual(@as(u16, 0), r.status);
        try testing.expectEqual(Failure.denied, r.failure().?);
        try testing.expectEqualStrings("denied: plugin p may not delete secrets", r.reason());
    }
    const reasons = .{
        .{ "throttled: 10 writes per second", Failure.throttled, true },
        .{ "unknown verb \"watch\"", Failure.denied, false },
        .{ "malformed request: missing field `resource`", Failure.invalid, false },
        .{ "invalid request: bad header", Failure.invalid, false },
        .{ "no Kubernetes connection (replay)", Failure.unavailable, false },
        .{ "env var TOKEN is not set", Failure.unavailable, false },
        .{ "timed out after 10s", Failure.no_response, true },
    };
    inline for (reasons) |case| {
        try testing.expectEqual(case[1], Failure.ofReason(case[0]));
        try testing.expectEqual(case[2], Failure.ofReason(case[0]).isTransient());
    }
    try testing.expectError(error.BadAnswer, parseAnswer(gpa, "not json"));
    try testing.expectError(error.BadAnswer, parseAnswer(gpa, "{\"object\":{}}"));
    try testing.expectError(error.BadAnswer, parseAnswer(gpa, "{\"status\":-1}"));

    // Natively without a transport: like `replay`, no Kubernetes connection.
    const previous = mock.set(null);
    defer _ = mock.set(previous);
    const r = try get(gpa, "configmaps", .{ .name = "a" });
    defer r.deinit();
    try testing.expectEqual(Failure.unavailable, r.failure().?);
    // A transport's malformed answer is an error.
    var recording: Recording = .{ .answer_text = "{\"status\":" };
    defer recording.deinit();
    _ = mock.set(recording.transport());
    try testing.expectError(error.BadAnswer, list(gpa, "pods", .{}));
}

fn quota(gpa: Allocator, pods: []const u8) !std.json.Parsed(Value) {
    const text = try std.fmt.allocPrint(gpa,
        \\{{"apiVersion":"v1","kind":"ResourceQuota","metadata":{{"namespace":"shop","name":"defaults","annotations":{{"a":"1"}}}},"spec":{{"hard":{{"pods":"{s}"}}}}}}
    , .{pods});
    defer gpa.free(text);
    return std.json.parseFromSlice(Value, gpa, text, .{});
}

fn expectVerbs(cluster: *const FakeCluster, verbs: []const []const u8) !void {
    try testing.expectEqual(verbs.len, cluster.requests.items.len);
    for (verbs, cluster.requests.items) |want, got| try testing.expectEqualStrings(want, got.verb);
}

test "ensure creates what is absent, with the owner label" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();

    const desired = try quota(gpa, "10");
    defer desired.deinit();
    const ensured = try ensure(gpa, "resourcequotas", desired.value, "me");
    defer ensured.deinit();
    try testing.expect(ensured == .created);
    try testing.expect(ensured.wrote());
    try testing.expect(isOwned(ensured.created.object, "me"));
    try expectVerbs(&cluster, &.{ "get", "create" });
    const stored = cluster.find("resourcequotas", "shop", "defaults").?;
    try testing.expectEqualStrings("me", lookupString(stored, &.{ "metadata", "labels", owner_label }).?);
    try testing.expectEqualStrings("1", lookupString(stored, &.{ "metadata", "annotations", "a" }).?);
    try testing.expectEqualStrings("10", lookupString(stored, &.{ "spec", "hard", "pods" }).?);
    // The create carries the object with its namespace, and the owner label.
    const sent = cluster.requests.items[1];
    try testing.expectEqualStrings("shop", lookupString(sent.object.?, &.{ "metadata", "namespace" }).?);
    try testing.expect(isOwned(sent.object.?, "me"));
}

test "ensure writes nothing when equal, and applies only a difference" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();

    const ten = try quota(gpa, "10");
    defer ten.deinit();
    (try ensure(gpa, "resourcequotas", ten.value, "me")).deinit();
    // What the API server or others add (status, defaults, other labels) is no difference.
    try cluster.insert("resourcequotas", raw(
        \\{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"namespace":"shop","name":"defaults",
        \\ "labels":{"app.kubernetes.io/managed-by":"me","team":"payments"},"annotations":{"a":"1","b":"2"}},
        \\ "spec":{"hard":{"pods":"10"},"scopes":["NotTerminating"]},"status":{"used":{"pods":"0"}}}
    ));
    cluster.clearRequests();
    const again = try ensure(gpa, "resourcequotas", ten.value, "me");
    defer again.deinit();
    try testing.expect(again == .unchanged);
    try testing.expect(!again.wrote());
    try expectVerbs(&cluster, &.{"get"});

    const twenty = try quota(gpa, "20");
    defer twenty.deinit();
    const changed = try ensure(gpa, "resourcequotas", twenty.value, "me");
    defer changed.deinit();
    try testing.expect(changed == .updated);
    try testing.expectEqualStrings("20", lookupString(changed.updated.object, &.{ "spec", "hard", "pods" }).?);
    try expectVerbs(&cluster, &.{ "get", "get", "apply" });
    const applied = cluster.requests.items[2];
    try testing.expectEqual(@as(?bool, true), applied.force);
    try testing.expect(isOwned(applied.object.?, "me"));
    try testing.expectEqual(@as(usize, 1), cluster.writeCount());

    // A changed annotation is a difference too; a struct works as `desired` as well.
    const Quota = struct {
        apiVersion: []const u8 = "v1",
        kind: []const u8 = "ResourceQuota",
        metadata: struct { namespace: []const u8 = "shop", name: []const u8 = "defaults", annotations: struct { a: []const u8 } },
        spec: struct { hard: struct { pods: []const u8 } },
    };
    const annotated = try ensure(gpa, "resourcequotas", Quota{ .metadata = .{ .annotations = .{ .a = "2" } }, .spec = .{ .hard = .{ .pods = "20" } } }, "me");
    defer annotated.deinit();
    try testing.expect(annotated == .updated);
    const same = try ensure(gpa, "resourcequotas", Quota{ .metadata = .{ .annotations = .{ .a = "2" } }, .spec = .{ .hard = .{ .pods = "20" } } }, "me");
    defer same.deinit();
    try testing.expect(same == .unchanged);
}

test "ensure and removeOwned leave objects they do not own alone" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();

    const theirs =
        \\{"metadata":{"namespace":"shop","name":"defaults","labels":{"app.kubernetes.io/managed-by":"someone-else"}},"spec":{"hard":{"pods":"99"}}}
    ;
    try cluster.insert("resourcequotas", raw(theirs));
    const desired = try quota(gpa, "10");
    defer desired.deinit();
    const ensured = try ensure(gpa, "resourcequotas", desired.value, "me");
    defer ensured.deinit();
    try testing.expect(ensured == .not_owned);
    try testing.expectEqualStrings("99", lookupString(ensured.not_owned.object, &.{ "spec", "hard", "pods" }).?);
    const removed = try removeOwned(gpa, "resourcequotas", .{ .namespace = "shop", .name = "defaults" }, "me");
    defer removed.deinit();
    try testing.expect(removed == .not_owned);
    try testing.expectEqual(@as(usize, 0), cluster.writeCount());
    try testing.expect(cluster.find("resourcequotas", "shop", "defaults") != null);

    // Unlabelled is not owned either.
    try cluster.insert("resourcequotas", raw("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"plain\"}}"));
    const plain = try removeOwned(gpa, "resourcequotas", .{ .namespace = "shop", .name = "plain" }, "me");
    defer plain.deinit();
    try testing.expect(plain == .not_owned);
}

test "removeOwned deletes only the owner's object" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();

    const ref: ObjectRef = .{ .namespace = "shop", .name = "defaults" };
    try testing.expect(try removeOwned(gpa, "resourcequotas", ref, "me") == .absent);
    const desired = try quota(gpa, "10");
    defer desired.deinit();
    (try ensure(gpa, "resourcequotas", desired.value, "me")).deinit();
    const removed = try removeOwned(gpa, "resourcequotas", ref, "me");
    defer removed.deinit();
    try testing.expect(removed == .deleted);
    try testing.expectEqualStrings("defaults", lookupString(removed.deleted.object, &.{ "metadata", "name" }).?);
    try testing.expect(cluster.find("resourcequotas", "shop", "defaults") == null);
    const last = cluster.requests.items[cluster.requests.items.len - 1];
    try testing.expectEqualStrings("delete", last.verb);
    try testing.expectEqualStrings("shop", last.namespace.?);
}

var refuse_create = false;

fn refusing(request: *const mock.Recorded) ?mock.Canned {
    if (std.mem.eql(u8, request.verb, "get")) return .{ .refuse = .{ .status = 404, .message = "not found" } };
    if (refuse_create) return .{ .refuse = .{ .status = 403, .message = "forbidden" } };
    return .{ .fail = "denied: plugin p may not create resourcequotas" };
}

test "refusals of the API server and of the host" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();
    cluster.intercept = refusing;

    const desired = try quota(gpa, "1");
    defer desired.deinit();
    refuse_create = true;
    const refused = try ensure(gpa, "resourcequotas", desired.value, "me");
    defer refused.deinit();
    try testing.expect(refused == .refused);
    try testing.expectEqual(Verb.create, refused.refused.verb);
    try testing.expectEqual(@as(u16, 403), refused.refused.response.status);

    refuse_create = false;
    const denied = try ensure(gpa, "resourcequotas", desired.value, "me");
    defer denied.deinit();
    try testing.expectEqual(Failure.denied, denied.refused.response.failure().?);

    cluster.intercept = null;
    try testing.expectError(error.InvalidDesired, ensure(gpa, "resourcequotas", raw("{\"metadata\":{}}"), "me"));
    try testing.expectError(error.InvalidDesired, ensure(gpa, "resourcequotas", raw("[1]"), "me"));
    try testing.expectError(error.InvalidDesired, ensure(gpa, "resourcequotas", raw("{"), "me"));
}

test "contains and matchesDesired compare only the desired fields" {
    const gpa = testing.allocator;
    var arena: std.heap.ArenaAllocator = .init(gpa);
    defer arena.deinit();
    const a = arena.allocator();
    const parse = struct {
        fn f(al: Allocator, text: []const u8) Value {
            return std.json.parseFromSliceLeaky(Value, al, text, .{}) catch unreachable;
        }
    }.f;
    const current = parse(a, "{\"a\":{\"b\":1,\"c\":[{\"port\":80,\"protocol\":\"TCP\"}]},\"d\":2,\"e\":{}}");
    try testing.expect(contains(current, parse(a, "{\"a\":{\"c\":[{\"port\":80}]}}")));
    try testing.expect(contains(current, parse(a, "{\"e\":{}}")));
    try testing.expect(!contains(current, parse(a, "{\"a\":{}}")));
    try testing.expect(contains(current, parse(a, "{\"f\":null}")));
    try testing.expect(!contains(current, parse(a, "{\"d\":null}")));
    try testing.expect(!contains(current, parse(a, "{\"a\":{\"c\":[]}}")));
    try testing.expect(!contains(current, parse(a, "{\"a\":{\"b\":2}}")));
    try testing.expect(!contains(current, parse(a, "{\"g\":{}}")));
    try testing.expect(contains(current, parse(a, "{\"d\":2.0}")));

    const object = parse(a, "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"annotations\":{\"x\":\"y\"}},\"spec\":{\"p\":1},\"status\":{\"q\":2}}");
    try testing.expect(matchesDesired(object, parse(a, "{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\",\"labels\":{\"a\":\"1\"},\"annotations\":{}},\"spec\":{\"p\":1}}")));
    try testing.expect(!matchesDesired(object, parse(a, "{\"spec\":{\"p\":2}}")));
    try testing.expect(!matchesDesired(object, parse(a, "{\"metadata\":{\"labels\":{\"b\":\"3\"}}}")));
    try testing.expect(!matchesDesired(object, parse(a, "{\"data\":{\"k\":\"v\"}}")));
    try testing.expect(valuesEqual(parse(a, "{\"a\":[1,\"x\",null,true],\"b\":{}}"), parse(a, "{\"b\":{},\"a\":[1.0,\"x\",null,true]}")));
    try testing.expect(!valuesEqual(parse(a, "[1]"), parse(a, "[\"1\"]")));
}

test "the fake cluster: get, list by namespace, labels and fields, patch, delete" {
    const gpa = testing.allocator;
    var cluster: FakeCluster = .init(gpa);
    defer cluster.deinit();
    cluster.install();
    defer cluster.uninstall();

    for ([_][3][]const u8{ .{ "a", "x", "me" }, .{ "a", "y", "you" }, .{ "b", "x", "me" } }) |o| {
        const text = try std.fmt.allocPrint(gpa, "{{\"metadata\":{{\"namespace\":\"{s}\",\"name\":\"{s}\",\"labels\":{{\"{s}\":\"{s}\"}}}}}}", .{ o[0], o[1], owner_label, o[2] });
        defer gpa.free(text);
        try cluster.insert("configmaps", raw(text));
    }
    const selector = try ownerSelector(gpa, "me");
    defer gpa.free(selector);
    try testing.expectEqualStrings("app.kubernetes.io/managed-by=me", selector);
    {
        const listed = try list(gpa, "configmaps", .{ .namespace = "a", .label_selector = selector });
        defer listed.deinit();
        try testing.expectEqual(@as(usize, 1), listed.items.len);
        try testing.expectEqualStrings("x", lookupString(listed.items[0], &.{ "metadata", "name" }).?);
    }
    {
        const listed = try list(gpa, "configmaps", .{ .label_selector = owner_label ++ "!=me" });
        defer listed.deinit();
        try testing.expectEqual(@as(usize, 1), listed.items.len);
    }
    {
        const listed = try list(gpa, "configmaps", .{ .field_selector = "metadata.name=x" });
        defer listed.deinit();
        try testing.expectEqual(@as(usize, 2), listed.items.len);
        try testing.expectEqualStrings("a", lookupString(listed.items[0], &.{ "metadata", "namespace" }).?);
    }
    {
        const listed = try list(gpa, "secrets", .{});
        defer listed.deinit();
        try testing.expect(listed.isSuccess());
        try testing.expectEqual(@as(usize, 0), listed.items.len);
    }
    {
        const patched = try patch(gpa, "configmaps", .{ .namespace = "b", .name = "x" }, .{ .data = .{ .k = "v" } });
        defer patched.deinit();
        try testing.expectEqualStrings("v", lookupString(patched.object, &.{ "data", "k" }).?);
        const removed = try patch(gpa, "configmaps", .{ .namespace = "b", .name = "x" }, .{ .data = .{ .k = null } });
        defer removed.deinit();
        try testing.expectEqual(@as(usize, 0), lookup(removed.object, &.{"data"}).?.object.count());
        try testing.expect(!std.mem.eql(u8, patched.resourceVersion().?, removed.resourceVersion().?));
    }
    {
        const missing = try get(gpa, "configmaps", .{ .namespace = "a", .name = "z" });
        defer missing.deinit();
        try testing.expectEqual(@as(u16, 404), missing.status);
        try testing.expectEqualStrings("configmaps \"z\" not found", missing.message);
    }
    {
        const exists = try create(gpa, "configmaps", raw("{\"metadata\":{\"namespace\":\"a\",\"name\":\"x\"}}"), .{});
        defer exists.deinit();
        try testing.expectEqual(@as(u16, 409), exists.status);
        const generated = try create(gpa, "configmaps", raw("{\"metadata\":{\"generateName\":\"gen-\"}}"), .{ .namespace = "a" });
        defer generated.deinit();
        try testing.expectEqual(@as(u16, 201), generated.status);
        const name = lookupString(generated.object, &.{ "metadata", "name" }).?;
        try testing.expect(std.mem.startsWith(u8, name, "gen-"));
        try testing.expect(cluster.find("configmaps", "a", name) != null);
        const disagree = try create(gpa, "configmaps", raw("{\"metadata\":{\"namespace\":\"a\",\"name\":\"w\"}}"), .{ .namespace = "b" });
        defer disagree.deinit();
        try testing.expectEqual(Failure.invalid, disagree.failure().?);
    }
    {
        const deleted = try delete(gpa, "configmaps", .{ .namespace = "a", .name = "y" });
        defer deleted.deinit();
        try testing.expectEqual(@as(u16, 200), deleted.status);
        try testing.expect(cluster.find("configmaps", "a", "y") == null);
    }
    // Two patches, three creates (a 409 and a malformed one included), one delete.
    try testing.expectEqual(@as(usize, 6), cluster.writeCount());

    // It reads requests as strictly as the host: unknown members, unknown verbs.
    const cases = [_][2][]const u8{
        .{ "{\"verb\":\"get\",\"resource\":\"pods\",\"nme\":\"x\"}", "malformed request" },
        .{ "{\"verb\":\"get\"}", "malformed request" },
        .{ "{\"verb\":\"watch\",\"resource\":\"pods\"}", "unknown verb \"watch\"" },
        .{ "{\"verb\":\"patch\",\"resource\":\"configmaps\",\"namespace\":\"b\",\"name\":\"x\"}", "malformed request: patch needs a patch" },
    };
    for (cases) |case| {
        const text = try cluster.answer(gpa, case[0]);
        defer gpa.free(text);
        const r = try parseAnswer(gpa, text);
        defer r.deinit();
        try testing.expectStringStartsWith(r.host_error.?, case[1]);
        try testing.expectEqualStrings(case[0], cluster.requests.items[cluster.requests.items.len - 1].json);
    }
    try testing.expect(cluster.remove("configmaps", "b", "x"));
    try testing.expect(!cluster.remove("configmaps", "b", "x"));
}
