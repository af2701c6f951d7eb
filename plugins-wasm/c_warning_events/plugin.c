/*
 * c_warning_events: turns Kubernetes Warning Events into WARN log lines.
 *
 * For an Event (kind Event) of type Warning it logs, at WARN,
 *   {namespace}/{involvedObject.kind}/{involvedObject.name}: {reason}: {message}
 * and nothing for Normal events or any other kind. Both Event APIs are read: core `v1`
 * (involvedObject, message) and `events.k8s.io/v1` (regarding, note), whose watch events name
 * the same kind. A member that is absent is written as an empty string; trailing whitespace of
 * the message (kubelet's probe messages end in a newline) is dropped.
 *
 * Each Warning is also counted in the plugin's own counter metric `warning_events` with the
 * label `reason` (exported by the host as
 * event_controller_plugin_warning_events_total{plugin="...",reason="..."}); the log line does not
 * depend on whether the host recorded it.
 *
 * The module's default subscription (the custom section below) asks the host for `events`
 * only, so other kinds never reach the plugin; the operator may override it in the config file.
 * testdata/events.jsonl holds a Normal event, v1 and events.k8s.io/v1 Warnings and a Pod that
 * looks like a Warning, for `event-controller replay`.
 */
#include "ec_guest.h"

EC_SUBSCRIBE("{\"resources\":[\"events\"]}");

enum {
    KIND,
    TYPE,
    NAMESPACE,
    REASON,
    INVOLVED_KIND,
    INVOLVED_NAME,
    MESSAGE,
    REGARDING_KIND, /* events.k8s.io/v1 */
    REGARDING_NAME,
    NOTE,
    FIELDS
};

static const char *const paths[FIELDS] = {
    [KIND] = "object.kind",
    [TYPE] = "object.type",
    [NAMESPACE] = "object.metadata.namespace",
    [REASON] = "object.reason",
    [INVOLVED_KIND] = "object.involvedObject.kind",
    [INVOLVED_NAME] = "object.involvedObject.name",
    [MESSAGE] = "object.message",
    [REGARDING_KIND] = "object.regarding.kind",
    [REGARDING_NAME] = "object.regarding.name",
    [NOTE] = "object.note",
};

/* The string at field i, else the one at field fallback (each only if it is a string). */
static ec_str text(const ec_value *v, int i, int fallback) {
    if (v[i].type == EC_STRING) return v[i].text;
    if (fallback >= 0 && v[fallback].type == EC_STRING) return v[fallback].text;
    return EC_LIT("");
}

/* s without trailing spaces, tabs and line breaks. */
static ec_str trim_end(ec_str s) {
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' ||
                         s.ptr[s.len - 1] == '\n' || s.ptr[s.len - 1] == '\r'))
        s.len--;
    return s;
}

ec_level ec_plugin_handle_event(ec_str event, ec_buf *out) {
    ec_value v[FIELDS];
    ec_error err;
    if (!ec_json_find(event, paths, FIELDS, v, &err)) {
        ec_buf_adds(out, err.message);
        ec_buf_adds(out, " at byte ");
        ec_buf_addu(out, err.offset);
        return EC_ERROR;
    }
    if (v[KIND].type != EC_STRING || !ec_str_eqs(v[KIND].text, "Event")) return EC_NONE;
    if (v[TYPE].type != EC_STRING || !ec_str_eqs(v[TYPE].text, "Warning")) return EC_NONE;

    ec_label reason = {"reason", text(v, REASON, -1)};
    ec_counter("warning_events", "Warning events by reason", &reason, 1, 1);

    ec_buf_addstr(out, text(v, NAMESPACE, -1));
    ec_buf_adds(out, "/");
    ec_buf_addstr(out, text(v, INVOLVED_KIND, REGARDING_KIND));
    ec_buf_adds(out, "/");
    ec_buf_addstr(out, text(v, INVOLVED_NAME, REGARDING_NAME));
    ec_buf_adds(out, ": ");
    ec_buf_addstr(out, text(v, REASON, -1));
    ec_buf_adds(out, ": ");
    ec_buf_addstr(out, trim_end(text(v, MESSAGE, NOTE)));
    return EC_WARN;
}
