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
        if (forget(id)) |previous| ec.allocator.free(previous);
        if (!is_exposed) return null;
        return ec.Outcome.info(try std.fmt.allocPrint(a, "Service {s} (exposed as {s}) was deleted", .{ id, type_name }));
    }

    if (!is_exposed) {
        const previous = forget(id) orelse return null;
        defer ec.allocator.free(previous);
        const was = previous[0 .. std.mem.indexOfScalar(u8, previous, ' ') orelse previous.len];
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

    const unchanged = if (exposed.get(id)) |last| std.mem.eql(u8, last, exposure.items) else false;
    remember(id, exposure.items);
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
