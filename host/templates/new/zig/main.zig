//! `{{name}}`: an event-controller plugin. It logs every watch event at INFO as
//! `Kind: {kind}; Name: {name}`.
//!
//! `event.head()` reads only the event's identity, never the whole object; `event.parse(T)`
//! reads the fields a plugin needs into its own struct (see sdk/README.md).

const std = @import("std");
const builtin = @import("builtin");
const ec = @import("ec");

/// A panic's message goes to the host's log, then the plugin traps.
pub const panic = ec.panic;

comptime {
    // The ABI's exports, for the wasm module only: the unit tests call handleEvent directly.
    if (!builtin.is_test) ec.exportPlugin(.{ .handle_event = handleEvent });
}

fn handleEvent(event: *ec.Event) !?ec.Outcome {
    const head = try event.head();
    const kind = head.kind orelse return null; // null: nothing to log
    const name = head.name orelse return null;
    return ec.Outcome.info(try std.mem.concat(event.arena, u8, &.{ "Kind: ", kind, "; Name: ", name }));
}

/// Calls the handler as the host would, with an arena for the event's scratch memory.
fn run(arena: *std.heap.ArenaAllocator, raw: []const u8) !?ec.Outcome {
    var event: ec.Event = .{ .raw = raw, .arena = arena.allocator() };
    return handleEvent(&event);
}

test "logs kind and name" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const outcome = (try run(&arena,
        \\{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"spec":{}}}
    )).?;
    try std.testing.expectEqual(ec.Level.info, outcome.level);
    try std.testing.expectEqualStrings("Kind: Pod; Name: web-1", outcome.message);
}

test "reads the object, not its nested members" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const outcome = (try run(&arena,
        \\{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"rs"}],"name":"web-2"},"kind":"Pod"},"type":"MODIFIED"}
    )).?;
    try std.testing.expectEqualStrings("Kind: Pod; Name: web-2", outcome.message);
}

test "says nothing without a name" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    try std.testing.expectEqual(@as(?ec.Outcome, null), try run(&arena,
        \\{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}
    ));
}
