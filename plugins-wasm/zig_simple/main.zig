//! The Zig port of `plugin_simple` (docs/conformance.md): logs every event at INFO as
//! `{prefix}Kind: {kind}; Name: {name}`, nothing for events of kind `skip_kind`.
//!
//! Reads only the event's identity with the `ec` helper's head reader, never the whole object.
//! Config (optional): `{"prefix": string, "skip_kind": string}`.

const std = @import("std");
const ec = @import("ec");

pub const panic = ec.panic;

comptime {
    ec.exportPlugin(.{ .handle_event = handleEvent, .init = init });
}

/// Both live as long as the instance (the config's allocator is never reset).
var prefix: []const u8 = "";
var skip_kind: ?[]const u8 = null;

fn init(config: *ec.Config) !void {
    prefix = try config.string("prefix") orelse "";
    skip_kind = try config.string("skip_kind");
}

fn handleEvent(event: *ec.Event) !?ec.Outcome {
    const head = try event.head();
    if (head.kind) |kind| {
        if (skip_kind) |skip| {
            if (std.mem.eql(u8, kind, skip)) return null;
        }
    }
    const kind = head.kind orelse return ec.Outcome.err(if (head.name == null)
        "event has no object.kind and no object.metadata.name"
    else
        "event has no object.kind");
    const name = head.name orelse return ec.Outcome.err("event has no object.metadata.name");
    return ec.Outcome.info(try std.mem.concat(event.arena, u8, &.{ prefix, "Kind: ", kind, "; Name: ", name }));
}
