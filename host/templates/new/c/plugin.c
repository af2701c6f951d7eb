/*
 * {{name}}: an event-controller plugin. It logs every watch event at INFO as
 * `Kind: {kind}; Name: {name}`.
 *
 * ec_event_head reads only the event's identity (type, object.kind, object.apiVersion,
 * object.metadata.name and .namespace), never the whole object; ec_json_find reads any other
 * members by dotted path (see sdk/ec_guest.h).
 */
#include "ec_guest.h"

ec_level ec_plugin_handle_event(ec_str event, ec_buf *out) {
    ec_head head;
    if (!ec_event_head(event, &head, NULL) || !head.kind.ptr || !head.name.ptr) return EC_NONE;
    ec_buf_adds(out, "Kind: ");
    ec_buf_addstr(out, head.kind);
    ec_buf_adds(out, "; Name: ");
    ec_buf_addstr(out, head.name);
    return EC_INFO;
}
