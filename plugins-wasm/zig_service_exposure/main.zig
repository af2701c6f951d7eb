//! Reports Services exposed outside the cluster.
//!
//! - A Service of `spec.type` `LoadBalancer` or `NodePort`, ADDED or MODIFIED: WARN
//!   `Service {namespace}/{name} is exposed as {type} on ports {ports}`, where each port reads as
//!   in `kubectl get service`'s PORT(S) column: `{port}/{protocol}`, or
//!   `{port}:{nodePort}/{protocol}` when a node port is set, joined with `,`.
//! - Such a Service DELETED: INFO `Service {namespace}/{name} (exposed as {type}) was deleted`.
//! - A Service this instance saw exposed that is MODIFIED to another type (e.g. back to
//!   ClusterIP): INFO `Service {namespace}/{name} is no longer exposed (now {type}, was {type})`.
//!   The instance remembers exposed Services in memory only: a fresh instance (after a trap or a
//!   restart) relearns them from the next ADDED/MODIFIED events (a watch starts with an ADDED per
//!   object).
//! - Anything else (ClusterIP, ExternalName, other kinds): nothing.
//!
//! Config (optional): `{"only_changes": true}` keeps MODIFIED events whose type and ports did not
//! change since the last report quiet (status-only updates, e.g. a load balancer's address).
//!
//! Metric: the gauge `exposed_services{type="LoadBalancer"|"NodePort"}` (on `/metrics` as
//! `event_controller_plugin_exposed_services{plugin="...",type="..."}`) holds how many Services of
//! each exposed type the instance knows of, set through `ec.metric` whenever that number changes
//! (both types on the first change). Like the messages, it rests on the instance's memory: after
//! a fresh instance (a trap, a hot reload) it counts only the Services seen since.
//!
//! Only the event's head is read for other kinds; Services are parsed with `std.json`.
//! The build appends an `event-controller.subscribe` section `{"resources":["services"]}`, so by
//! default the host passes it Service events only.

const std = @import("std");
const ec = @import("ec");

pub const panic = ec.panic;

comptime {
    ec.exportPlugin(.{ .handle_event = handleEvent, .init = init });
}

/// The parts of a Service event this plugin reads; every other member is ignored.
const ServiceEvent = struct {
    type: []const u8 = "",
    object: struct {
        metadata: struct {
            name: []const u8 = "",
            namespace: []const u8 = "",
        } = .{},
        spec: struct {
            type: []const u8 = "ClusterIP",
            ports: []const Port = &.{},
        } = .{},
    } = .{},
};

const Port = struct {
    port: i64 = 0,
    protocol: []const u8 = "TCP",
    nodePort: ?i64 = null,
};

/// `{"only_changes": true}`: on MODIFIED, report an exposed Service only when its type or ports
/// changed since this instance last reported it (status-only updates, such as a load balancer
/// getting its address, stay quiet). Default false: every ADDED/MODIFIED of an exposed Service
/// is reported.
const Settings = struct {
    only_changes: bool = false,
};

var settings: Settings = .{};

fn init(config: *ec.Config) !void {
    settings = try config.parse(Settings);
}

/// `namespace/name` of the Services this instance saw exposed -> their last report
/// (`{type} on ports {ports}`). Keys and values are owned by `ec.allocator`, as the map outlives
/// each event.
var exposed: std.StringHashMapUnmanaged([]const u8) = .empty;

fn handleEvent(event: *ec.Event) !?ec.Outcome {
    // Cheap first: most events are not Services, and the head reader stops after `metadata`.
    const head = try event.head();
    const kind = head.kind orelse return null;
    if (!std.mem.eql(u8, kind, "Service")) return null;
    // The core `v1` Service only (a Knative `serving.knative.dev/v1` Service is another kind).
    if (!std.mem.eql(u8, head.api_version orelse "v1", "v1")) return null;

    const service = try event.parse(ServiceEvent);
    const object = service.object;
    const a = event.arena;
    const id = try std.mem.concat(a, u8, &.{ object.metadata.namespace, "/", object.metadata.name });
    const type_name = object.spec.type;
    const is_exposed = std.mem.eql(u8, type_name, "LoadBalancer") or
        std.mem.eql(u8, type_name, "NodePort");

    if (std.mem.eql(u8, service.type, "DELETED")) {
        if (forget(id)) |previous| {
            ec.allocator.free(previous);
            exportCounts();
        }
        if (!is_exposed) return null;
        return ec.Outcome.info(try std.fmt.allocPrint(a, "Service {s} (exposed as {s}) was deleted", .{ id, type_name }));
    }

    if (!is_exposed) {
        const previous = forget(id) orelse return null;
        defer ec.allocator.free(previous);
        exportCounts();
        const was = typeOf(previous);
        return ec.Outcome.info(try std.fmt.allocPrint(a, "Service {s} is no longer exposed (now {s}, was {s})", .{ id, type_name, was }));
    }

    var exposure: std.ArrayList(u8) = .empty;
    try exposure.print(a, "{s} on ports ", .{type_name});
    for (object.spec.ports, 0..) |port, i| {
        if (i > 0) try exposure.append(a, ',');
        if (port.nodePort) |node_port| {
            try exposure.print(a, "{d}:{d}/{s}", .{ port.port, node_port, port.protocol });
        } else {
            try exposure.print(a, "{d}/{s}", .{ port.port, port.protocol });
        }
    }
    if (object.spec.ports.len == 0) try exposure.appendSlice(a, "(none)");

    const last = exposed.get(id);
    const unchanged = if (last) |l| std.mem.eql(u8, l, exposure.items) else false;
    const newly_counted = if (last) |l| !std.mem.eql(u8, typeOf(l), type_name) else true;
    remember(id, exposure.items);
    if (newly_counted) exportCounts();
    if (unchanged and settings.only_changes and std.mem.eql(u8, service.type, "MODIFIED")) return null;
    return ec.Outcome.warn(try std.mem.concat(a, u8, &.{ "Service ", id, " is exposed as ", exposure.items }));
}

/// Records `id`'s exposure. Best effort: out of memory only loses the record.
fn remember(id: []const u8, exposure: []const u8) void {
    const gpa = ec.allocator;
    const value = gpa.dupe(u8, exposure) catch return;
    const entry = exposed.getOrPut(gpa, id) catch {
        gpa.free(value);
        return;
    };
    if (entry.found_existing) {
        gpa.free(entry.value_ptr.*);
    } else {
        entry.key_ptr.* = gpa.dupe(u8, id) catch {
            exposed.removeByPtr(entry.key_ptr);
            gpa.free(value);
            return;
        };
    }
    entry.value_ptr.* = value;
}

/// Forgets `id`; returns its last exposure (owned by the caller), or null.
fn forget(id: []const u8) ?[]const u8 {
    const entry = exposed.fetchRemove(id) orelse return null;
    ec.allocator.free(entry.key);
    return entry.value;
}

/// The type an exposure starts with (`LoadBalancer on ports ...` -> `LoadBalancer`).
fn typeOf(exposure: []const u8) []const u8 {
    return exposure[0 .. std.mem.indexOfScalar(u8, exposure, ' ') orelse exposure.len];
}

const exposed_types = [_][]const u8{ "LoadBalancer", "NodePort" };

/// The values the gauge was last set to, per type (`null`: not yet by this instance).
var exported_counts: [exposed_types.len]?usize = @splat(null);

const exposed_services_help = "Services of type LoadBalancer or NodePort that this plugin instance knows of, by type";

/// Counts the remembered Services by type and sets the gauge `exposed_services{type}` for each
/// type whose count differs from the value it was last set to.
fn exportCounts() void {
    var counts: [exposed_types.len]usize = @splat(0);
    var exposures = exposed.valueIterator();
    while (exposures.next()) |exposure| {
        for (exposed_types, &counts) |t, *n| {
            if (std.mem.eql(u8, typeOf(exposure.*), t)) n.* += 1;
        }
    }
    for (exposed_types, counts, &exported_counts) |t, n, *exported| {
        if (exported.* == n) continue;
        // The host refuses only a bad name or label, or series past its limit: not these. On a
        // refusal the value is sent again at the next change.
        if (ec.metric.gauge("exposed_services", .{ .type = t }, @floatFromInt(n), .{ .help = exposed_services_help }))
            exported.* = n;
    }
}

test "exposed_services counts the exposed Services by type" {
    var metrics: ec.metric.Recorder = .init(std.testing.allocator);
    defer metrics.deinit();
    metrics.install();
    defer metrics.uninstall();
    var arena: std.heap.ArenaAllocator = .init(std.testing.allocator);
    defer arena.deinit();

    // After each line of testdata/exposed-services.jsonl: LoadBalancers, NodePorts, gauge updates.
    const want = [_][3]usize{
        .{ 1, 0, 2 }, // web-lb ADDED (LoadBalancer): both types set on the first change
        .{ 1, 0, 2 }, // web-lb MODIFIED (status only): no update
        .{ 1, 1, 3 }, // dns-np ADDED (NodePort)
        .{ 1, 1, 3 }, // a ClusterIP Service
        .{ 1, 1, 3 }, // a Pod
        .{ 1, 1, 3 }, // an ExternalName Service
        .{ 2, 1, 4 }, // café-🚀 (LoadBalancer)
        .{ 1, 1, 5 }, // web-lb back to ClusterIP
        .{ 1, 0, 6 }, // dns-np DELETED
    };
    var lines = std.mem.tokenizeScalar(u8, @embedFile("testdata/exposed-services.jsonl"), '\n');
    for (want) |counts| {
        var event: ec.Event = .{ .raw = lines.next().?, .arena = arena.allocator() };
        _ = try handleEvent(&event);
        try std.testing.expectEqual(@as(?f64, @floatFromInt(counts[0])), metrics.value("exposed_services", .{ .type = "LoadBalancer" }));
        try std.testing.expectEqual(@as(?f64, @floatFromInt(counts[1])), metrics.value("exposed_services", .{ .type = "NodePort" }));
        try std.testing.expectEqual(counts[2], metrics.updates.items.len);
    }
    try std.testing.expectEqual(null, lines.next());
    for (metrics.updates.items) |update| try std.testing.expectEqual(null, update.refused);
    try std.testing.expectEqualStrings(
        \\{"name":"exposed_services","kind":"gauge","help":"Services of type LoadBalancer or NodePort that this plugin instance knows of, by type","labels":{"type":"LoadBalancer"},"value":1}
    , metrics.updates.items[0].json);
}
