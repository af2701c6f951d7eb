//! `ec.kube.mock`: the host's `kube_request` for native builds (`zig test`), where there is no
//! host. `ec.kube.send` hands each request's JSON to the transport installed on the current
//! thread and parses what it answers, exactly as on wasm. Without a transport every request
//! answers `{"error":"no Kubernetes connection: ..."}`, as the host does under `replay`.
//!
//! Either install an in-memory API server, `FakeCluster`:
//!
//!     var cluster: ec.kube.FakeCluster = .init(std.testing.allocator);
//!     defer cluster.deinit();
//!     cluster.install();              // `cluster` must not move while installed
//!     defer cluster.uninstall();
//!     try cluster.insert("namespaces", ec.kube.raw("{\"metadata\":{\"name\":\"shop\"}}"));
//!     // ... run the plugin's code ...
//!     try std.testing.expectEqual(1, cluster.writeCount());
//!     const stored = cluster.find("configmaps", "shop", "settings").?;   // a std.json.Value
//!
//! or a transport of your own, a function from the request JSON to the answer JSON (see
//! `respond`, `respondList`, `refuse`, `fail`):
//!
//!     const previous = ec.kube.mock.set(.{ .answer = myAnswer });
//!     defer _ = ec.kube.mock.set(previous);
//!
//! `FakeCluster.intercept` makes chosen requests fail (a 403, a host refusal) while the cluster
//! serves the others.

const std = @import("std");
const kube = @import("kube.zig");

const Allocator = std.mem.Allocator;
const Value = std.json.Value;
const ObjectMap = std.json.ObjectMap;

/// A stand-in for the host's `kube_request`: gets the request's JSON and returns the answer's
/// JSON, allocated with `gpa` (the caller frees it).
pub const Transport = struct {
    context: ?*anyopaque = null,
    answer: *const fn (context: ?*anyopaque, gpa: Allocator, request: []const u8) Allocator.Error![]u8,
};

threadlocal var installed: ?Transport = null;

/// Installs `transport` for this thread (`null`: none); returns the one it replaces, to put
/// back when the test ends.
pub fn set(transport: ?Transport) ?Transport {
    const previous = installed;
    installed = transport;
    return previous;
}

/// What `ec.kube.send` calls natively instead of the host.
pub fn exchange(gpa: Allocator, request: []const u8) Allocator.Error![]u8 {
    const t = installed orelse return fail(gpa, "no Kubernetes connection: built natively, and no " ++
        "transport is installed (ec.kube.FakeCluster.install or ec.kube.mock.set)");
    return t.answer(t.context, gpa, request);
}

/// The answer `{"status":status,"object":object}`; `object` is a struct, a `std.json.Value` or
/// `ec.kube.raw(text)`.
pub fn respond(gpa: Allocator, status: u16, object: anytype) Allocator.Error![]u8 {
    return std.json.Stringify.valueAlloc(gpa, .{ .status = status, .object = object }, .{ .emit_null_optional_fields = false });
}

/// A `list`'s answer `{"status":200,"items":[...]}`; `items` is a slice of objects.
pub fn respondList(gpa: Allocator, items: anytype) Allocator.Error![]u8 {
    return std.json.Stringify.valueAlloc(gpa, .{ .status = @as(u16, 200), .items = items }, .{ .emit_null_optional_fields = false });
}

/// The API server's refusal `{"status":status,"message":message}`.
pub fn refuse(gpa: Allocator, status: u16, message: []const u8) Allocator.Error![]u8 {
    return std.json.Stringify.valueAlloc(gpa, .{ .status = status, .message = message }, .{});
}

/// The host's refusal `{"error":reason}`; start `reason` with the prefixes of docs/ABI.md §6
/// (`denied: ...`, `throttled: ...`) to get the same `ec.kube.Failure`.
pub fn fail(gpa: Allocator, reason: []const u8) Allocator.Error![]u8 {
    return std.json.Stringify.valueAlloc(gpa, .{ .@"error" = reason }, .{});
}

/// A canned answer for `FakeCluster.intercept`.
pub const Canned = union(enum) {
    /// `{"status":..,"message":..}`: the API server refused.
    refuse: struct { status: u16, message: []const u8 },
    /// `{"error":..}`: the host refused.
    fail: []const u8,
    /// This answer text, as it is.
    text: []const u8,
};

/// One request a `FakeCluster` served, as the host would read it.
pub const Recorded = struct {
    /// The request's JSON exactly as the plugin sent it.
    json: []const u8,
    /// Empty when the JSON could not be read (the answer was `malformed request: ...`).
    verb: []const u8 = "",
    resource: []const u8 = "",
    namespace: ?[]const u8 = null,
    name: ?[]const u8 = null,
    patch: ?Value = null,
    object: ?Value = null,
    label_selector: ?[]const u8 = null,
    field_selector: ?[]const u8 = null,
    force: ?bool = null,
    consistent: ?bool = null,

    /// True for `create`, `apply`, `patch` and `delete`.
    pub fn isWrite(self: Recorded) bool {
        for ([_][]const u8{ "create", "apply", "patch", "delete" }) |verb| {
            if (std.mem.eql(u8, self.verb, verb)) return true;
        }
        return false;
    }
};

/// The request members the host accepts (an unknown one is a malformed request).
const Wire = struct {
    verb: []const u8,
    resource: []const u8,
    namespace: ?[]const u8 = null,
    name: ?[]const u8 = null,
    patch: ?Value = null,
    object: ?Value = null,
    label_selector: ?[]const u8 = null,
    field_selector: ?[]const u8 = null,
    force: ?bool = null,
    consistent: ?bool = null,
};

const Key = struct { resource: []const u8, namespace: []const u8, name: []const u8 };

const KeyContext = struct {
    pub fn hash(_: KeyContext, k: Key) u32 {
        var h = std.hash.Wyhash.init(0);
        for ([_][]const u8{ k.resource, k.namespace, k.name }) |part| {
            h.update(part);
            h.update("\x00");
        }
        return @truncate(h.final());
    }
    pub fn eql(_: KeyContext, a: Key, b: Key, _: usize) bool {
        return std.mem.eql(u8, a.resource, b.resource) and std.mem.eql(u8, a.namespace, b.namespace) and
            std.mem.eql(u8, a.name, b.name);
    }
};

/// A small in-memory API server for native tests of a plugin's reads and writes, like the Rust
/// SDK's `kube::mock::FakeCluster` and the Go helper's `kube.FakeCluster`. It keeps objects by
/// resource, namespace and name and answers as the host would:
///
/// - `get`: 200 with the object, or 404 `{resource} "{name}" not found`;
/// - `list`: 200 with every object of the resource (in the namespace, when given), filtered by
///   an equality label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`; set-based ones are a 400)
///   and a field selector (`metadata.name=x`, any dotted path, `=`/`==`/`!=`), sorted by
///   namespace and name;
/// - `create`: 201, or 409 when it exists (`generateName` gets a name);
/// - `apply`: 201 when absent, else 200 with the object merged in like a merge patch (no
///   field-manager conflicts);
/// - `patch`: an RFC 7386 merge patch, 200, or 404;
/// - `delete`: 200 with the deleted object, or 404.
///
/// Each change gets a new `metadata.resourceVersion` (and a `uid` when it has none). A request
/// whose JSON the host would not read (an unknown member, a missing `verb` or `resource`, a
/// namespace or name that differs from the object's metadata) answers `malformed request: ...`,
/// an unknown verb `unknown verb ...`. Grants are not checked: assert on `requests`. Every
/// request is recorded in `requests`. All memory is an arena freed by `deinit`.
pub const FakeCluster = struct {
    arena_state: std.heap.ArenaAllocator,
    objects: std.ArrayHashMapUnmanaged(Key, Value, KeyContext, true) = .empty,
    /// Every request so far, oldest first.
    requests: std.ArrayList(Recorded) = .empty,
    resource_version: u64 = 0,
    /// When set, sees each request first (after it is recorded): a non-null answer is returned
    /// instead of the cluster's.
    intercept: ?*const fn (request: *const Recorded) ?Canned = null,
    previous: ?Transport = null,

    pub fn init(gpa: Allocator) FakeCluster {
        return .{ .arena_state = .init(gpa) };
    }

    pub fn deinit(self: *FakeCluster) void {
        self.arena_state.deinit();
        self.* = undefined;
    }

    /// Installs the cluster as this thread's transport; `uninstall` puts the previous one back.
    /// The cluster must stay at its address meanwhile.
    pub fn install(self: *FakeCluster) void {
        self.previous = set(self.transport());
    }

    pub fn uninstall(self: *FakeCluster) void {
        _ = set(self.previous);
        self.previous = null;
    }

    /// The cluster as a transport (for `set`, or to wrap in a transport of your own).
    pub fn transport(self: *FakeCluster) Transport {
        return .{ .context = self, .answer = answerFn };
    }

    fn answerFn(context: ?*anyopaque, gpa: Allocator, request: []const u8) Allocator.Error![]u8 {
        const self: *FakeCluster = @ptrCast(@alignCast(context.?));
        return self.answer(gpa, request);
    }

    fn arena(self: *FakeCluster) Allocator {
        return self.arena_state.allocator();
    }

    /// Stores `object` (a struct, a `std.json.Value` or `ec.kube.raw(text)`; its
    /// `metadata.namespace` and `name` say where) as someone else's change: no request is
    /// recorded. It gets a new resourceVersion.
    pub fn insert(self: *FakeCluster, resource: []const u8, object: anytype) !void {
        const a = self.arena();
        const value = try std.json.parseFromSliceLeaky(Value, a, try kube.bodyJson(a, object), .{});
        const namespace = kube.lookupString(value, &.{ "metadata", "namespace" }) orelse "";
        const name = kube.lookupString(value, &.{ "metadata", "name" }) orelse return error.NoName;
        _ = try self.store(resource, namespace, name, value);
    }

    /// Removes an object as someone else's change; whether there was one.
    pub fn remove(self: *FakeCluster, resource: []const u8, namespace: ?[]const u8, name: []const u8) bool {
        return self.objects.orderedRemove(.{ .resource = resource, .namespace = namespace orelse "", .name = name });
    }

    /// The stored object; `namespace` `null` (or empty) for a cluster-scoped one.
    pub fn find(self: *const FakeCluster, resource: []const u8, namespace: ?[]const u8, name: []const u8) ?Value {
        return self.objects.get(.{ .resource = resource, .namespace = namespace orelse "", .name = name });
    }

    /// How many writes (`create`, `apply`, `patch`, `delete`) were asked so far.
    pub fn writeCount(self: *const FakeCluster) usize {
        var n: usize = 0;
        for (self.requests.items) |r| n += @intFromBool(r.isWrite());
        return n;
    }

    /// Forgets the requests recorded so far.
    pub fn clearRequests(self: *FakeCluster) void {
        self.requests.clearRetainingCapacity();
    }

    /// The host's answer to the request JSON `request`, allocated with `gpa`.
    pub fn answer(self: *FakeCluster, gpa: Allocator, request: []const u8) Allocator.Error![]u8 {
        const a = self.arena();
        var recorded: Recorded = .{ .json = try a.dupe(u8, request) };
        const parsed = std.json.parseFromSliceLeaky(Wire, a, recorded.json, .{});
        if (parsed) |wire| {
            inline for (std.meta.fields(Wire)) |field| @field(recorded, field.name) = @field(wire, field.name);
        } else |_| {}
        try self.requests.append(a, recorded);
        const wire = parsed catch |e| {
            if (e == error.OutOfMemory) return error.OutOfMemory;
            return fail(gpa, try std.fmt.allocPrint(a, "malformed request: {s}", .{@errorName(e)}));
        };
        if (self.intercept) |f| {
            if (f(&self.requests.items[self.requests.items.len - 1])) |canned| return switch (canned) {
                .refuse => |r| refuse(gpa, r.status, r.message),
                .fail => |reason| fail(gpa, reason),
                .text => |text| gpa.dupe(u8, text),
            };
        }
        return self.serve(gpa, wire);
    }

    fn serve(self: *FakeCluster, gpa: Allocator, r: Wire) Allocator.Error![]u8 {
        const a = self.arena();
        const verb = std.meta.stringToEnum(kube.Verb, r.verb) orelse
            return fail(gpa, try std.fmt.allocPrint(a, "unknown verb \"{s}\"", .{r.verb}));
        const own_namespace = if (r.object) |o| kube.lookupString(o, &.{ "metadata", "namespace" }) else null;
        const own_name = if (r.object) |o| kube.lookupString(o, &.{ "metadata", "name" }) else null;
        inline for (.{ .{ r.namespace, own_namespace, "namespace" }, .{ r.name, own_name, "name" } }) |pair| {
            if (pair[0] != null and pair[1] != null and !std.mem.eql(u8, pair[0].?, pair[1].?))
                return fail(gpa, "malformed request: the request's " ++ pair[2] ++ " differs from the object's metadata." ++ pair[2]);
        }
        const namespace = r.namespace orelse own_namespace orelse "";
        var name = r.name orelse own_name orelse "";
        const key: Key = .{ .resource = r.resource, .namespace = namespace, .name = name };
        const not_found = try std.fmt.allocPrint(a, "{s} \"{s}\" not found", .{ r.resource, name });
        switch (verb) {
            .get, .patch, .delete => {
                if (name.len == 0) return fail(gpa, try std.fmt.allocPrint(a, "malformed request: {s} needs a name", .{r.verb}));
                const current = self.objects.get(key) orelse return refuse(gpa, 404, not_found);
                switch (verb) {
                    .get => return respond(gpa, 200, current),
                    .delete => {
                        _ = self.objects.orderedRemove(key);
                        return respond(gpa, 200, current);
                    },
                    else => {
                        const p = r.patch orelse return fail(gpa, "malformed request: patch needs a patch");
                        return respond(gpa, 200, try self.store(r.resource, namespace, name, try merge(a, current, p)));
                    },
                }
            },
            .list => {
                var items: std.ArrayList(Entry) = .empty;
                var it = self.objects.iterator();
                while (it.next()) |entry| {
                    const k = entry.key_ptr.*;
                    if (!std.mem.eql(u8, k.resource, r.resource)) continue;
                    if (r.namespace) |ns| if (!std.mem.eql(u8, k.namespace, ns)) continue;
                    const labels_ok = labelsMatch(r.label_selector orelse "", entry.value_ptr.*) catch
                        return refuse(gpa, 400, try std.fmt.allocPrint(a, "unsupported label selector \"{s}\"", .{r.label_selector.?}));
                    if (!labels_ok or !fieldsMatch(r.field_selector orelse "", entry.value_ptr.*)) continue;
                    try items.append(a, .{ .key = k, .value = entry.value_ptr.* });
                }
                std.mem.sort(Entry, items.items, {}, Entry.lessThan);
                const values = try a.alloc(Value, items.items.len);
                for (items.items, values) |entry, *v| v.* = entry.value;
                return respondList(gpa, values);
            },
            .create, .apply => {
                const object = r.object orelse return fail(gpa, try std.fmt.allocPrint(a, "malformed request: {s} needs an object", .{r.verb}));
                if (object != .object) return fail(gpa, "malformed request: the object is not a JSON object");
                if (name.len == 0) {
                    const prefix = kube.lookupString(object, &.{ "metadata", "generateName" }) orelse "";
                    if (verb == .apply or prefix.len == 0)
                        return fail(gpa, try std.fmt.allocPrint(a, "malformed request: {s} needs metadata.name", .{r.verb}));
                    name = try std.fmt.allocPrint(a, "{s}{d}", .{ prefix, self.resource_version + 1 });
                }
                const current = self.objects.get(.{ .resource = r.resource, .namespace = namespace, .name = name });
                if (current != null and verb == .create)
                    return refuse(gpa, 409, try std.fmt.allocPrint(a, "{s} \"{s}\" already exists", .{ r.resource, name }));
                const merged = if (current) |c| try merge(a, c, object) else object;
                const stored = try self.store(r.resource, namespace, name, merged);
                return respond(gpa, if (current == null) 201 else 200, stored);
            },
        }
    }

    /// Stores a copy of `value` at a new resourceVersion, with its namespace and name set.
    fn store(self: *FakeCluster, resource: []const u8, namespace: []const u8, name: []const u8, value: Value) Allocator.Error!Value {
        const a = self.arena();
        var stored = try clone(a, value);
        if (stored != .object) stored = .{ .object = .init(a) };
        self.resource_version += 1;
        const metadata = try stored.object.getOrPut("metadata");
        if (!metadata.found_existing or metadata.value_ptr.* != .object) metadata.value_ptr.* = .{ .object = .init(a) };
        const m = &metadata.value_ptr.object;
        try m.put("resourceVersion", .{ .string = try std.fmt.allocPrint(a, "{d}", .{self.resource_version}) });
        if (!m.contains("uid")) try m.put("uid", .{ .string = try std.fmt.allocPrint(a, "uid-{d}", .{self.resource_version}) });
        if (namespace.len > 0) try m.put("namespace", .{ .string = try a.dupe(u8, namespace) });
        try m.put("name", .{ .string = try a.dupe(u8, name) });
        const entry = try self.objects.getOrPut(a, .{ .resource = resource, .namespace = namespace, .name = name });
        if (!entry.found_existing) entry.key_ptr.* = .{
            .resource = try a.dupe(u8, resource),
            .namespace = try a.dupe(u8, namespace),
            .name = try a.dupe(u8, name),
        };
        entry.value_ptr.* = stored;
        return stored;
    }
};

const Entry = struct {
    key: Key,
    value: Value,

    fn lessThan(_: void, a: Entry, b: Entry) bool {
        return switch (std.mem.order(u8, a.key.namespace, b.key.namespace)) {
            .lt => true,
            .gt => false,
            .eq => std.mem.lessThan(u8, a.key.name, b.key.name),
        };
    }
};

/// A copy of the objects and arrays of `value` (strings are shared: they live in the arena).
fn clone(a: Allocator, value: Value) Allocator.Error!Value {
    switch (value) {
        .array => |array| {
            var out: std.json.Array = .init(a);
            try out.ensureTotalCapacity(array.items.len);
            for (array.items) |item| out.appendAssumeCapacity(try clone(a, item));
            return .{ .array = out };
        },
        .object => |object| {
            var out: ObjectMap = .init(a);
            try out.ensureTotalCapacity(object.count());
            for (object.keys(), object.values()) |k, v| out.putAssumeCapacity(k, try clone(a, v));
            return .{ .object = out };
        },
        else => return value,
    }
}

/// RFC 7386: `patch` merged into `target`, a `null` member removing it.
fn merge(a: Allocator, target: Value, patch: Value) Allocator.Error!Value {
    if (patch != .object) return patch;
    var out: ObjectMap = .init(a);
    if (target == .object) {
        for (target.object.keys(), target.object.values()) |k, v| try out.put(k, v);
    }
    for (patch.object.keys(), patch.object.values()) |k, v| {
        if (v == .null) {
            _ = out.orderedRemove(k);
        } else {
            try out.put(k, try merge(a, out.get(k) orelse .null, v));
        }
    }
    return .{ .object = out };
}

/// An equality-based label selector (`a=b,c!=d,e,!f`) against `object`'s labels.
fn labelsMatch(selector: []const u8, object: Value) error{Unsupported}!bool {
    var terms = std.mem.tokenizeScalar(u8, selector, ',');
    while (terms.next()) |untrimmed| {
        const term = std.mem.trim(u8, untrimmed, " ");
        if (term.len == 0) continue;
        if (std.mem.indexOfAny(u8, term, " ()") != null) return error.Unsupported;
        const ok = if (std.mem.indexOf(u8, term, "!=")) |at| blk: {
            const got = label(object, term[0..at]) orelse break :blk true;
            break :blk !std.mem.eql(u8, got, term[at + 2 ..]);
        } else if (std.mem.indexOfScalar(u8, term, '=')) |at| blk: {
            const value = std.mem.trimLeft(u8, term[at + 1 ..], "=");
            const got = label(object, term[0..at]) orelse break :blk false;
            break :blk std.mem.eql(u8, got, value);
        } else if (term[0] == '!')
            label(object, term[1..]) == null
        else
            label(object, term) != null;
        if (!ok) return false;
    }
    return true;
}

fn label(object: Value, key: []const u8) ?[]const u8 {
    return kube.lookupString(object, &.{ "metadata", "labels", key });
}

/// A field selector (`metadata.name=x,status.phase!=Running`) against `object`'s string fields;
/// a missing field reads as empty.
fn fieldsMatch(selector: []const u8, object: Value) bool {
    var terms = std.mem.tokenizeScalar(u8, selector, ',');
    while (terms.next()) |untrimmed| {
        const term = std.mem.trim(u8, untrimmed, " ");
        const negate = std.mem.indexOf(u8, term, "!=") != null;
        const at = std.mem.indexOf(u8, term, "!=") orelse std.mem.indexOfScalar(u8, term, '=') orelse continue;
        const want = std.mem.trimLeft(u8, term[at + 1 ..], "=");
        var at_value = object;
        var path = std.mem.splitScalar(u8, term[0..at], '.');
        const got: []const u8 = while (path.next()) |step| {
            if (at_value != .object) break "";
            at_value = at_value.object.get(step) orelse break "";
        } else if (at_value == .string) at_value.string else "";
        if (std.mem.eql(u8, got, want) == negate) return false;
    }
    return true;
}
