//! `ec.metric`: the plugin's own metrics through the host's `event_controller.metric` import
//! (docs/ABI.md §6, "metric"): counters, gauges and histograms, exported on the controller's
//! `/metrics` as `event_controller_plugin_NAME{plugin="...",...}` (counters with `_total`). A
//! metric is declared by its first update (its kind, help and buckets); the values live in the
//! host and survive a hot reload of the plugin. No grant is needed.
//!
//!     _ = ec.metric.counter("warning_events", .{ .reason = reason }, 1, .{ .help = "Warning events by reason" });
//!     _ = ec.metric.gauge("watched_namespaces", .{}, 12, .{});
//!     _ = ec.metric.observe("sync_seconds", .{}, 0.042, .{ .buckets = &.{ 0.01, 0.1, 1 } });
//!
//! Labels are a struct whose fields are the label names (`.{ .type = "NodePort" }`, `.{}` for
//! none) or, for names known only at run time, a slice of `ec.metric.Label`. Each call returns
//! whether the host recorded the update; the host logs a refusal (a bad name, another kind, past
//! the plugin's 1000 series) at WARN once per reason. A module that uses this imports
//! `event_controller.metric`.
//!
//! Natively (`zig test`) updates go to the `Recorder` installed on the current thread, which
//! checks them as the host does and keeps the values; without one they are only checked.

const std = @import("std");
const builtin = @import("builtin");
const ec = @import("ec.zig");

const Allocator = std.mem.Allocator;

pub const Kind = enum { counter, gauge, histogram };

/// A label name and value; names are `[a-z][a-z0-9_]*` (not `plugin` or `le`), values at most
/// 256 bytes.
pub const Label = struct { name: []const u8, value: []const u8 };

pub const Options = struct {
    /// The help text, taken from a metric's first update.
    help: ?[]const u8 = null,
    /// A histogram's bucket bounds, 1 to 32 ascending, taken from its first update (default 0.005
    /// to 10). The host refuses them for a counter or a gauge.
    buckets: ?[]const f64 = null,
};

/// One update, as the host reads it.
pub const Update = struct {
    /// `[a-z][a-z0-9_]*`, at most 64 characters, not ending in `_total`, `_bucket`, `_count`,
    /// `_sum`, `_created` or `_info`.
    name: []const u8,
    kind: Kind,
    help: ?[]const u8 = null,
    labels: []const Label = &.{},
    /// Added (counter, 0 or more), set (gauge) or observed (histogram).
    value: f64,
    buckets: ?[]const f64 = null,

    /// Writes `{"name":..,"kind":..,"help":..,"labels":{..},"value":..,"buckets":[..]}`, with
    /// `help`, `labels` and `buckets` left out when null or empty; strings escaped by `std.json`.
    /// (Written by hand rather than with `std.json.Stringify`: ~9 KB less in a module.)
    pub fn writeJson(self: Update, w: *std.Io.Writer) std.Io.Writer.Error!void {
        const string = std.json.Stringify.encodeJsonString;
        try w.writeAll("{\"name\":");
        try string(self.name, .{}, w);
        try w.print(",\"kind\":\"{s}\"", .{@tagName(self.kind)});
        if (self.help) |help| if (help.len > 0) {
            try w.writeAll(",\"help\":");
            try string(help, .{}, w);
        };
        for (self.labels, 0..) |l, i| {
            try w.writeAll(if (i == 0) ",\"labels\":{" else ",");
            try string(l.name, .{}, w);
            try w.writeByte(':');
            try string(l.value, .{}, w);
        }
        if (self.labels.len > 0) try w.writeByte('}');
        try w.print(",\"value\":{}", .{self.value});
        if (self.buckets) |buckets| {
            for (buckets, 0..) |bound, i| try w.print("{s}{}", .{ if (i == 0) ",\"buckets\":[" else ",", bound });
            try w.writeAll(if (buckets.len == 0) ",\"buckets\":[]" else "]");
        }
        try w.writeByte('}');
    }

    /// The JSON handed to `metric`; the caller frees it with `gpa`.
    pub fn toJson(self: Update, gpa: Allocator) Allocator.Error![]u8 {
        var out: std.Io.Writer.Allocating = .init(gpa);
        defer out.deinit();
        self.writeJson(&out.writer) catch return error.OutOfMemory;
        return out.toOwnedSlice();
    }
};

/// Adds `by` (0 or more) to the counter `name` with `labels`. Whether the host recorded it.
pub fn counter(name: []const u8, labels: anytype, by: f64, options: Options) bool {
    return withLabels(.counter, name, labels, by, options);
}

/// Sets the gauge `name` with `labels` to `value`. Whether the host recorded it.
pub fn gauge(name: []const u8, labels: anytype, value: f64, options: Options) bool {
    return withLabels(.gauge, name, labels, value, options);
}

/// Observes `value` in the histogram `name` with `labels`. Whether the host recorded it.
pub fn observe(name: []const u8, labels: anytype, value: f64, options: Options) bool {
    return withLabels(.histogram, name, labels, value, options);
}

fn withLabels(kind: Kind, name: []const u8, labels: anytype, value: f64, options: Options) bool {
    const T = @TypeOf(labels);
    const update: Update = .{ .name = name, .kind = kind, .help = options.help, .value = value, .buckets = options.buckets, .labels = &.{} };
    if (comptime isLabelList(T)) {
        var with = update;
        with.labels = labels;
        return send(with);
    }
    const info = switch (@typeInfo(T)) {
        .@"struct" => |s| s,
        else => @compileError("labels are a struct of label names, e.g. .{ .type = \"NodePort\" }, or a []const ec.metric.Label"),
    };
    if (info.is_tuple and info.fields.len > 0)
        @compileError("labels are a struct with named fields, e.g. .{ .type = \"NodePort\" }");
    var list: [info.fields.len]Label = undefined;
    inline for (info.fields, 0..) |field, i| list[i] = .{ .name = field.name, .value = @field(labels, field.name) };
    var with = update;
    with.labels = &list;
    return send(with);
}

fn isLabelList(comptime T: type) bool {
    return switch (@typeInfo(T)) {
        .pointer => |p| switch (p.size) {
            .slice => p.child == Label,
            .one => switch (@typeInfo(p.child)) {
                .array => |a| a.child == Label,
                else => false,
            },
            else => false,
        },
        else => false,
    };
}

const host = struct {
    extern "event_controller" fn metric(ptr: [*]const u8, len: usize) i32;
};

/// Sends one update; whether the host recorded it. A value that is not finite (NaN, ±inf),
/// which JSON cannot carry, is refused here without asking the host.
pub fn send(update: Update) bool {
    if (!std.math.isFinite(update.value)) return false;
    // Most updates fit in 2 KiB of stack; longer ones (a long help text) go to the heap.
    var buffer: [2048]u8 = undefined;
    var fixed: std.Io.Writer = .fixed(&buffer);
    var allocated: ?[]u8 = null;
    defer if (allocated) |bytes| ec.allocator.free(bytes);
    const json = if (update.writeJson(&fixed)) fixed.buffered() else |_| blk: {
        allocated = update.toJson(ec.allocator) catch return false;
        break :blk allocated.?;
    };
    if (comptime builtin.target.cpu.arch.isWasm()) {
        return host.metric(json.ptr, json.len) == 0;
    } else {
        if (recorder) |r| return r.take(json);
        var arena: std.heap.ArenaAllocator = .init(std.heap.page_allocator);
        defer arena.deinit();
        const parsed = parseUpdate(arena.allocator(), json) catch return false;
        return check(parsed) == null;
    }
}

// ---------------------------------------------------------------------------------------------
// Natively: the recorder

threadlocal var recorder: ?*Recorder = null;

/// What the host keeps of a plugin's metrics, for native tests: every update with whether it
/// was recorded, and the value of each series. It refuses what the host refuses: a bad name or
/// label, a negative counter increment, buckets off a histogram, another kind than the
/// metric's first update, series past 1000.
///
///     var metrics: ec.metric.Recorder = .init(std.testing.allocator);
///     defer metrics.deinit();
///     metrics.install();                 // `metrics` must not move while installed
///     defer metrics.uninstall();
///     // ... run the plugin's code ...
///     try std.testing.expectEqual(@as(?f64, 2), metrics.value("exposed_services", .{ .type = "NodePort" }));
pub const Recorder = struct {
    arena_state: std.heap.ArenaAllocator,
    /// Every update, oldest first.
    updates: std.ArrayList(Recorded) = .empty,
    series: std.ArrayList(Series) = .empty,
    previous: ?*Recorder = null,

    /// One update as sent, and the host's verdict.
    pub const Recorded = struct {
        /// The JSON as the plugin sent it.
        json: []const u8,
        /// Parsed from `json` (`name` empty when it could not be read).
        update: Update,
        /// `null` when recorded; else why the host would refuse it.
        refused: ?[]const u8,
    };

    const Series = struct {
        name: []const u8,
        labels: []const Label,
        /// A counter's total, a gauge's value, a histogram's sum.
        value: f64,
        /// How many updates it took (a histogram's observation count).
        count: usize,
    };

    pub fn init(gpa: Allocator) Recorder {
        return .{ .arena_state = .init(gpa) };
    }

    pub fn deinit(self: *Recorder) void {
        self.arena_state.deinit();
        self.* = undefined;
    }

    /// Receives this thread's updates until `uninstall`.
    pub fn install(self: *Recorder) void {
        self.previous = recorder;
        recorder = self;
    }

    pub fn uninstall(self: *Recorder) void {
        recorder = self.previous;
        self.previous = null;
    }

    /// A counter's total, a gauge's last value or a histogram's sum for `name` with exactly
    /// `labels` (a struct or a `[]const Label`, as for `counter`); `null` when never recorded.
    pub fn value(self: *const Recorder, name: []const u8, labels: anytype) ?f64 {
        const list = labelList(labels);
        const s = self.find(name, list.slice()) orelse return null;
        return s.value;
    }

    /// How many updates of `name` with exactly `labels` were recorded (a histogram's count).
    pub fn count(self: *const Recorder, name: []const u8, labels: anytype) usize {
        const list = labelList(labels);
        const s = self.find(name, list.slice()) orelse return 0;
        return s.count;
    }

    /// The most recent update, if any.
    pub fn last(self: *const Recorder) ?Recorded {
        const n = self.updates.items.len;
        return if (n == 0) null else self.updates.items[n - 1];
    }

    /// Forgets the updates (not the series' values, which the host keeps too).
    pub fn clearUpdates(self: *Recorder) void {
        self.updates.clearRetainingCapacity();
    }

    fn find(self: *const Recorder, name: []const u8, labels: []const Label) ?*Series {
        for (self.series.items) |*s| {
            if (std.mem.eql(u8, s.name, name) and sameLabels(s.labels, labels)) return s;
        }
        return null;
    }

    /// Takes one update's JSON as the host would; whether it is recorded.
    fn take(self: *Recorder, json: []const u8) bool {
        return self.takeOrFail(json) catch false;
    }

    fn takeOrFail(self: *Recorder, json: []const u8) Allocator.Error!bool {
        const a = self.arena_state.allocator();
        const copy = try a.dupe(u8, json);
        const update = parseUpdate(a, copy) catch |e| {
            if (e == error.OutOfMemory) return error.OutOfMemory;
            const why = try std.fmt.allocPrint(a, "malformed metric update: {s}", .{@errorName(e)});
            try self.updates.append(a, .{ .json = copy, .update = .{ .name = "", .kind = .counter, .value = 0 }, .refused = why });
            return false;
        };
        const refused = check(update) orelse try self.stateful(a, update);
        try self.updates.append(a, .{ .json = copy, .update = update, .refused = refused });
        if (refused != null) return false;
        const s = self.find(update.name, update.labels) orelse blk: {
            try self.series.append(a, .{ .name = update.name, .labels = update.labels, .value = 0, .count = 0 });
            break :blk &self.series.items[self.series.items.len - 1];
        };
        s.value = if (update.kind == .gauge) update.value else s.value + update.value;
        s.count += 1;
        return true;
    }

    /// The host's checks that need what it holds: the metric's kind, the 1000 series.
    fn stateful(self: *const Recorder, a: Allocator, update: Update) Allocator.Error!?[]const u8 {
        for (self.updates.items) |earlier| {
            if (earlier.refused != null or !std.mem.eql(u8, earlier.update.name, update.name)) continue;
            if (earlier.update.kind != update.kind)
                return try std.fmt.allocPrint(a, "metric \"{s}\" is a {s}, not a {s}", .{ update.name, @tagName(earlier.update.kind), @tagName(update.kind) });
            break;
        }
        if (self.find(update.name, update.labels) == null and self.series.items.len >= max_series)
            return try std.fmt.allocPrint(a, "the plugin holds {d} metric series, its limit: metric \"{s}\" is not recorded", .{ max_series, update.name });
        return null;
    }
};

const max_series = 1000;

fn sameLabels(a: []const Label, b: []const Label) bool {
    if (a.len != b.len) return false;
    for (a) |x| {
        for (b) |y| {
            if (std.mem.eql(u8, x.name, y.name)) {
                if (!std.mem.eql(u8, x.value, y.value)) return false;
                break;
            }
        } else return false;
    }
    return true;
}

/// `labels` (a struct or a label list) as a list, for lookups.
fn labelList(labels: anytype) LabelList(@TypeOf(labels)) {
    const T = @TypeOf(labels);
    if (comptime isLabelList(T)) return .{ .list = labels };
    var out: LabelList(T) = undefined;
    inline for (@typeInfo(T).@"struct".fields, 0..) |field, i| out.list[i] = .{ .name = field.name, .value = @field(labels, field.name) };
    return out;
}

fn LabelList(comptime T: type) type {
    if (isLabelList(T)) return struct {
        list: []const Label,
        fn slice(self: *const @This()) []const Label {
            return self.list;
        }
    };
    return struct {
        list: [@typeInfo(T).@"struct".fields.len]Label,
        fn slice(self: *const @This()) []const Label {
            return &self.list;
        }
    };
}

/// Reads an update as the host does: unknown members refused, labels an object of strings.
fn parseUpdate(a: Allocator, json: []const u8) !Update {
    const Wire = struct {
        name: []const u8,
        kind: Kind,
        help: ?[]const u8 = null,
        labels: ?std.json.ArrayHashMap([]const u8) = null,
        value: f64,
        buckets: ?[]const f64 = null,
    };
    const wire = try std.json.parseFromSliceLeaky(Wire, a, json, .{});
    var labels: []Label = &.{};
    if (wire.labels) |map| {
        labels = try a.alloc(Label, map.map.count());
        for (map.map.keys(), map.map.values(), labels) |k, v, *l| l.* = .{ .name = k, .value = v };
    }
    return .{ .name = wire.name, .kind = wire.kind, .help = wire.help, .labels = labels, .value = wire.value, .buckets = wire.buckets };
}

/// The host's checks of one update on its own (host/src/metrics/plugin_metrics.rs): why it
/// would refuse it, or `null`.
pub fn check(update: Update) ?[]const u8 {
    if (!validName(update.name)) return "a name is [a-z][a-z0-9_]*, at most 64 characters";
    for ([_][]const u8{ "_total", "_bucket", "_count", "_sum", "_created", "_info" }) |suffix| {
        if (std.mem.endsWith(u8, update.name, suffix)) return "a name may not end with _total, _bucket, _count, _sum, _created or _info (the host adds suffixes)";
    }
    if (update.labels.len > 10) return "more than 10 labels";
    for (update.labels) |l| {
        if (!validName(l.name) or std.mem.eql(u8, l.name, "plugin") or std.mem.eql(u8, l.name, "le"))
            return "a label is [a-z][a-z0-9_]*, not `plugin` or `le`";
        if (l.value.len > 256) return "a label value has at most 256 bytes";
    }
    if (!std.math.isFinite(update.value)) return "the value is not a finite number";
    if (update.kind == .counter and update.value < 0) return "a counter only goes up: the value must be 0 or more";
    if (update.buckets) |buckets| {
        const ascending = for (1..buckets.len) |i| {
            if (!(buckets[i - 1] < buckets[i])) break false;
        } else true;
        if (update.kind != .histogram or buckets.len == 0 or buckets.len > 32 or !ascending)
            return "buckets are 1 to 32 ascending bounds, for a histogram";
    }
    return null;
}

fn validName(name: []const u8) bool {
    if (name.len == 0 or name.len > 64 or !std.ascii.isLower(name[0])) return false;
    for (name) |c| {
        if (!(std.ascii.isLower(c) or std.ascii.isDigit(c) or c == '_')) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

test "updates carry the JSON the host reads" {
    const gpa = testing.allocator;
    const cases = .{
        .{
            Update{ .name = "warning_events", .kind = .counter, .help = "Warnings \"by\" reason", .labels = &.{.{ .name = "reason", .value = "Back\nOff" }}, .value = 1 },
            \\{"name":"warning_events","kind":"counter","help":"Warnings \"by\" reason","labels":{"reason":"Back\nOff"},"value":1}
            ,
        },
        .{
            Update{ .name = "zones", .kind = .gauge, .value = 3.5 },
            \\{"name":"zones","kind":"gauge","value":3.5}
            ,
        },
        .{
            Update{ .name = "sync_seconds", .kind = .histogram, .help = "", .value = 0.042, .buckets = &.{ 0.01, 0.1, 1 } },
            \\{"name":"sync_seconds","kind":"histogram","value":0.042,"buckets":[0.01,0.1,1]}
            ,
        },
    };
    inline for (cases) |case| {
        const json = try case[0].toJson(gpa);
        defer gpa.free(json);
        try testing.expectEqualStrings(case[1], json);
    }
}

fn expectRefused(metrics: *const Recorder, recorded: bool, why: []const u8) !void {
    try testing.expect(!recorded);
    try testing.expectStringStartsWith(metrics.last().?.refused.?, why);
}

test "counter, gauge and observe reach the recorder, which checks them as the host does" {
    var metrics: Recorder = .init(testing.allocator);
    defer metrics.deinit();
    metrics.install();
    defer metrics.uninstall();

    try testing.expect(counter("warning_events", .{ .reason = "BackOff" }, 1, .{ .help = "Warning events by reason" }));
    try testing.expect(counter("warning_events", .{ .reason = "BackOff" }, 2, .{}));
    try testing.expect(counter("warning_events", .{ .reason = "OOMKilling" }, 1, .{}));
    try testing.expectEqualStrings(
        \\{"name":"warning_events","kind":"counter","labels":{"reason":"OOMKilling"},"value":1}
    , metrics.last().?.json);
    try testing.expectEqual(@as(?f64, 3), metrics.value("warning_events", .{ .reason = "BackOff" }));
    try testing.expectEqual(@as(usize, 2), metrics.count("warning_events", .{ .reason = "BackOff" }));
    try testing.expectEqual(@as(?f64, null), metrics.value("warning_events", .{}));

    const dynamic = [_]Label{ .{ .name = "zone", .value = "a" }, .{ .name = "tier", .value = "db" } };
    try testing.expect(gauge("pods", &dynamic, 4, .{}));
    try testing.expect(gauge("pods", .{ .tier = "db", .zone = "a" }, 2, .{}));
    try testing.expectEqual(@as(?f64, 2), metrics.value("pods", .{ .zone = "a", .tier = "db" }));
    try testing.expectEqual(@as(?f64, 2), metrics.value("pods", @as([]const Label, &dynamic)));

    try testing.expect(observe("sync_seconds", .{}, 0.5, .{ .buckets = &.{ 0.1, 1 } }));
    try testing.expect(observe("sync_seconds", .{}, 0.25, .{}));
    try testing.expectEqual(@as(?f64, 0.75), metrics.value("sync_seconds", .{}));
    try testing.expectEqual(@as(usize, 2), metrics.count("sync_seconds", .{}));

    // What the host refuses.
    try expectRefused(&metrics, counter("pods", .{ .tier = "db", .zone = "a" }, 1, .{}), "metric \"pods\" is a gauge, not a counter");
    try expectRefused(&metrics, counter("requests_total", .{}, 1, .{}), "a name may not end with");
    try expectRefused(&metrics, counter("Requests", .{}, 1, .{}), "a name is [a-z]");
    try expectRefused(&metrics, counter("requests", .{}, -1, .{}), "a counter only goes up");
    try expectRefused(&metrics, gauge("pods", .{ .plugin = "x" }, 1, .{}), "a label is");
    try expectRefused(&metrics, gauge("up", .{}, 1, .{ .buckets = &.{1} }), "buckets are");
    try expectRefused(&metrics, observe("latency", .{}, 1, .{ .buckets = &.{ 2, 1 } }), "buckets are");
    try testing.expect(!gauge("up", .{}, std.math.nan(f64), .{}));
    try testing.expectEqual(@as(?f64, 2), metrics.value("pods", .{ .zone = "a", .tier = "db" }));

    // The cardinality cap: series 1001 is refused, existing ones go on.
    var name_buf: [16]u8 = undefined;
    for (metrics.series.items.len..max_series) |i| {
        const value = std.fmt.bufPrint(&name_buf, "{d}", .{i}) catch unreachable;
        try testing.expect(gauge("many", .{ .i = value }, 1, .{}));
    }
    try testing.expect(!gauge("many", .{ .i = "new" }, 1, .{}));
    try testing.expect(std.mem.indexOf(u8, metrics.last().?.refused.?, "1000 metric series") != null);
    try testing.expect(gauge("many", .{ .i = "999" }, 2, .{}));
}

test "a long update goes through the heap" {
    var metrics: Recorder = .init(testing.allocator);
    defer metrics.deinit();
    metrics.install();
    defer metrics.uninstall();
    const help = "h" ** 4000;
    const value = "\x01" ** 256; // 6 bytes each once escaped
    try testing.expect(gauge("long", .{ .a = value, .b = value }, 1, .{ .help = help }));
    const json = metrics.last().?.json;
    try testing.expect(json.len > 4000 + 2 * 6 * 256);
    try testing.expectEqualStrings(help, metrics.last().?.update.help.?);
    try testing.expectEqualStrings(value, metrics.last().?.update.labels[1].value);
}

test "without a recorder, updates are only checked" {
    try testing.expect(counter("warning_events", .{}, 1, .{}));
    try testing.expect(!counter("warning_events_total", .{}, 1, .{}));
}
