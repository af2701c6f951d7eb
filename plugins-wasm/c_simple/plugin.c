/*
 * c_simple: the C port of plugin_simple (docs/conformance.md).
 *
 * Logs every event at INFO as `{prefix}Kind: {kind}; Name: {name}`, reading only the event's
 * identity (object.kind, object.metadata.name). Config: {"prefix": string, "skip_kind": string},
 * both optional; events of kind skip_kind get no outcome. Like the Rust reference, an event
 * without kind or name (which the host never delivers) gets an ERROR naming the missing field.
 */
#include "ec_guest.h"

static ec_str prefix = {"", 0};
static ec_str skip_kind; /* ptr NULL: skip nothing */

int ec_plugin_init(ec_str config) {
    static const char *const paths[] = {"prefix", "skip_kind"};
    ec_value v[2];
    ec_error err;
    if (!ec_json_find(config, paths, 2, v, &err)) {
        ec_buf msg = {0};
        ec_buf_adds(&msg, "config must be an object with optional strings prefix and skip_kind: ");
        ec_buf_adds(&msg, err.message);
        ec_buf_adds(&msg, " at byte ");
        ec_buf_addu(&msg, err.offset);
        ec_log(EC_ERROR, msg.ptr, msg.len);
        return 1;
    }
    /* As serde reads the reference's settings: prefix may be absent, skip_kind absent or null. */
    if (v[0].type != EC_ABSENT && v[0].type != EC_STRING) {
        ec_logs(EC_ERROR, "config must be an object with optional strings prefix and skip_kind: "
                          "prefix is not a string");
        return 1;
    }
    if (v[1].type != EC_ABSENT && v[1].type != EC_NULL && v[1].type != EC_STRING) {
        ec_logs(EC_ERROR, "config must be an object with optional strings prefix and skip_kind: "
                          "skip_kind is not a string");
        return 1;
    }
    /* Decoded strings live in scratch memory until init returns: keep copies. */
    if (v[0].type == EC_STRING) prefix = ec_str_dup(v[0].text);
    if (v[1].type == EC_STRING) skip_kind = ec_str_dup(v[1].text);
    return 0;
}

ec_level ec_plugin_handle_event(ec_str event, ec_buf *out) {
    ec_head head;
    ec_error err;
    if (!ec_event_head(event, &head, &err)) {
        ec_buf_adds(out, err.message);
        ec_buf_adds(out, " at byte ");
        ec_buf_addu(out, err.offset);
        return EC_ERROR;
    }
    if (head.kind.ptr && skip_kind.ptr && ec_str_eq(head.kind, skip_kind)) return EC_NONE;
    if (!head.kind.ptr || !head.name.ptr) {
        ec_buf_adds(out, !head.kind.ptr && !head.name.ptr
                             ? "event has no object.kind and no object.metadata.name"
                             : !head.kind.ptr ? "event has no object.kind"
                                              : "event has no object.metadata.name");
        return EC_ERROR;
    }
    ec_buf_addstr(out, prefix);
    ec_buf_adds(out, "Kind: ");
    ec_buf_addstr(out, head.kind);
    ec_buf_adds(out, "; Name: ");
    ec_buf_addstr(out, head.name);
    return EC_INFO;
}
