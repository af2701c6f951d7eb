/*
 * ec_guest.h: a thin C helper for event-controller plugins (guest ABI v1, docs/ABI.md).
 *
 * Link ec_guest.c into the plugin and it provides every export the host needs:
 *
 *   memory, alloc, dealloc   malloc/free from wasi-libc; alloc traps instead of returning NULL
 *   handle_event             calls ec_plugin_handle_event, JSON-escapes the message and packs
 *                            the result as (ptr << 32) | len; the host frees it with dealloc
 *   init                     keeps a copy of the config (ec_config) and calls ec_plugin_init
 *   ec_abi_version           returns 1
 *   _initialize              comes from wasi-libc's crt1-reactor.o (-mexec-model=reactor)
 *
 * The plugin defines ec_plugin_handle_event and, optionally, ec_plugin_init. Reading JSON:
 * ec_event_head (the event's identity), ec_json_find (any members by dotted path, several in
 * one pass), ec_json_next (the members of an object or the elements of an array, one by one).
 * Nothing here builds a tree or recurses deeper than the paths asked for.
 *
 * Host functions: ec_log (the `log` import), ec_counter/ec_gauge/ec_observe (`metric`) and
 * ec_kube_get/list/create/apply/patch/delete, ec_kube_ensure and ec_kube_remove_owned
 * (`kube_request`). A module imports only the host functions it calls.
 *
 * Built natively (no __wasm__, for unit tests), `log` writes to stderr and `metric` and
 * `kube_request` go to a mock that records them: see "the native mock" at the end.
 *
 * Strings (ec_str) are byte ranges, not NUL-terminated. They point into the input when the JSON
 * string had no escapes, else into scratch memory that is freed when the current export call
 * (handle_event or init) returns: copy with ec_str_dup what must live longer.
 */
#ifndef EC_GUEST_H
#define EC_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, as the `log` import numbers them; EC_NONE means "no outcome" (handle_event returns 0). */
typedef enum ec_level {
    EC_NONE = -1,
    EC_TRACE = 0,
    EC_DEBUG = 1,
    EC_INFO = 2,
    EC_WARN = 3,
    EC_ERROR = 4
} ec_level;

/* A byte string, not NUL-terminated. ptr == NULL means "absent". */
typedef struct ec_str {
    const char *ptr;
    size_t len;
} ec_str;

/* An ec_str of a string literal. */
#define EC_LIT(s) ((ec_str){(s), sizeof(s) - 1})

/* A growable byte buffer for building messages. Zero-initialise it ({0}). Traps when out of memory. */
typedef struct ec_buf {
    char *ptr;
    size_t len, cap;
} ec_buf;

/* The JSON type of a value found by ec_json_find. */
typedef enum ec_type {
    EC_ABSENT = 0, /* not there, or an intermediate member was not an object */
    EC_STRING,
    EC_NUMBER,
    EC_OBJECT,
    EC_ARRAY,
    EC_BOOL,
    EC_NULL
} ec_type;

/* A value found by ec_json_find: for EC_STRING, `text` is the decoded string (UTF-8);
 * for any other type, the raw JSON text of the value (e.g. `42`, `true`, `{"a":1}`). */
typedef struct ec_value {
    ec_type type;
    ec_str text;
} ec_value;

/* Why JSON could not be read: a static message and the byte offset where reading stopped. */
typedef struct ec_error {
    const char *message;
    size_t offset;
} ec_error;

/* The identity of a watch event; absent members (or members that are not strings) have ptr NULL. */
typedef struct ec_head {
    ec_str type;        /* type: ADDED, MODIFIED, DELETED */
    ec_str kind;        /* object.kind */
    ec_str api_version; /* object.apiVersion */
    ec_str name;        /* object.metadata.name */
    ec_str namespace_;  /* object.metadata.namespace */
} ec_head;

/* ---- implemented by the plugin ---------------------------------------------------------------- */

/* Required. Handles one watch event (`event` is the server's JSON, valid during the call):
 * append the message to `out` and return its level, or return EC_NONE for no outcome. */
ec_level ec_plugin_handle_event(ec_str event, ec_buf *out);

/* Optional (a weak default accepts anything). Receives the plugin's config JSON (`{}` when
 * none); return 0 to accept. Before refusing, explain why with ec_log(EC_ERROR, ...). */
int ec_plugin_init(ec_str config);

/* ---- reading JSON ----------------------------------------------------------------------------- */

/* Reads the identity of a watch event in one pass, stopping as soon as it is known (with the API
 * server's member order, before the bulk of metadata). Members may come in any order; nested
 * members of the same name (ownerReferences[].kind, spec.template.metadata.name) are not
 * confused with these. Returns false on malformed JSON, filling `err` if it is not NULL. */
bool ec_event_head(ec_str event, ec_head *head, ec_error *err);

/* Finds the members at `paths[0..n)` (n <= 32) of the JSON object `json` in one pass. A path is
 * dotted member names from the top, e.g. "object.metadata.name" (so a name cannot contain '.';
 * array elements cannot be addressed). out[i] receives the first occurrence of paths[i], or
 * EC_ABSENT. Reading stops once every path is found or known to be absent. Returns false on
 * malformed JSON in the part read, filling `err` if it is not NULL. */
bool ec_json_find(ec_str json, const char *const *paths, size_t n, ec_value *out, ec_error *err);

/* ---- strings, buffers, logging, config -------------------------------------------------------- */

bool ec_str_eq(ec_str a, ec_str b);       /* same bytes (both absent counts as equal) */
bool ec_str_eqs(ec_str a, const char *s); /* equal to the NUL-terminated s; false if absent */
ec_str ec_str_dup(ec_str s);              /* a heap copy that lives until freed with free() */

void ec_buf_add(ec_buf *b, const void *bytes, size_t len);
void ec_buf_adds(ec_buf *b, const char *s); /* NUL-terminated */
void ec_buf_addstr(ec_buf *b, ec_str s);    /* nothing when absent */
void ec_buf_addu(ec_buf *b, uint64_t n);    /* decimal */

/* Logs text through the host's event_controller.log import (truncated by the host at 64 KiB). */
void ec_log(ec_level level, const char *text, size_t len);
void ec_logs(ec_level level, const char *text); /* NUL-terminated */

/* The config that init received (a private copy, NUL-terminated, valid for the instance's life);
 * ptr NULL before init. */
ec_str ec_config(void);

/* Scratch memory freed when the current export call returns (used for decoded strings). */
void *ec_scratch(size_t len);

/* ---- reading JSON: containers one element at a time ------------------------------------------ */

/* An iterator over the members of a JSON object or the elements of an array (its fields are
 * private). It borrows the container's text, which must outlive it. */
typedef struct ec_json_iter {
    const char *s_;
    size_t len_, pos_;
    char close_;
    int state_;
    ec_error err; /* set when ec_json_next stopped on malformed JSON (message NULL otherwise) */
} ec_json_iter;

/* Starts iterating `container`, the text of a JSON object or array (e.g. an ec_value's text of
 * type EC_OBJECT or EC_ARRAY). Returns false (filling it->err) when it is neither. */
bool ec_json_iter_init(ec_json_iter *it, ec_str container);

/* The next member (an object's: `key` its decoded name) or element (an array's: `key` absent).
 * `value` is as ec_json_find gives it: a decoded string, or the raw JSON text of anything else.
 * Returns false at the end, or on malformed JSON (then it->err.message is set). `key` or
 * `value` may be NULL. Values are skipped iteratively, so deep JSON cannot exhaust the stack. */
bool ec_json_next(ec_json_iter *it, ec_str *key, ec_value *value);

/* The member named `key` (compared decoded, so it may contain '.' as label names do) of the
 * JSON object `object`; EC_ABSENT when there is none or `object` is not an object. */
ec_value ec_json_member(ec_str object, ec_str key);

/* Whether `current` holds everything `desired` sets (both JSON texts), as ec_kube_ensure
 * compares: objects member by member, ignoring members `desired` lacks (a `null` member must be
 * absent; `{}` matches only `{}`); arrays element by element, of the same length; strings
 * decoded; numbers, true, false and null as written (so 1 and 1.0 differ). It recurses as deep
 * as `desired` nests (which the plugin writes), not deeper. Malformed JSON compares unequal. */
bool ec_json_contains(ec_str current, ec_str desired);

/* Appends `s` as a JSON string: quoted, with `"`, `\` and control characters escaped (as the
 * helper escapes messages: `\n`, `\t`... and `\u00XX`). `s` must be UTF-8; absent appends `""`.
 * For building the objects and patches the Kubernetes functions send. */
void ec_buf_addquoted(ec_buf *b, ec_str s);

/* The ec_str of a NUL-terminated string; absent for NULL. */
ec_str ec_cstr(const char *s);

/* ---- metrics (the `metric` import) ------------------------------------------------------------ */

/* One label of a metric update: a name (a C string, [a-z][a-z0-9_]*, not `plugin` or `le`) and
 * a value (at most 256 bytes of UTF-8; absent is sent as ""). */
typedef struct ec_label {
    const char *name;
    ec_str value;
} ec_label;

/* Update the plugin's own metric `name` ([a-z][a-z0-9_]*, at most 64 characters, not ending in
 * _total, _bucket, _count, _sum, _created or _info), exported by the host as
 * event_controller_plugin_NAME (counters with _total) with the label plugin="...". `help` (a C
 * string; NULL or "" for none) and, for histograms, the buckets are taken from a metric's first
 * update. `labels` is an array of `n_labels` (at most 10; NULL when 0). Each returns true when
 * the host recorded the update, false when it refused it (it logs why at WARN, once per reason)
 * or when the value is not finite (then nothing is sent). The helper sends
 * {"name":...,"kind":...,"help":...,"labels":{...},"value":...} with the value's 15
 * significant digits (integers below 1e15 exactly). No grant is needed.
 *
 *   ec_label reason = {"reason", text};
 *   ec_counter("warning_events", "Warning events by reason", &reason, 1, 1); */
bool ec_counter(const char *name, const char *help, const ec_label *labels, size_t n_labels,
                double by);   /* adds `by` (0 or more) */
bool ec_gauge(const char *name, const char *help, const ec_label *labels, size_t n_labels,
              double value);  /* sets */
bool ec_observe(const char *name, const char *help, const ec_label *labels, size_t n_labels,
                double value); /* observes in a histogram with the host's buckets, 5 ms to 10 s */
/* ec_observe with the histogram's bucket bounds (1 to 32, ascending), for its first update. */
bool ec_observe_buckets(const char *name, const char *help, const ec_label *labels,
                        size_t n_labels, const double *buckets, size_t n_buckets, double value);

/* ---- Kubernetes (the `kube_request` import, a capability) ------------------------------------- */

/* The host's answer to one Kubernetes request. Everything in it lives in memory it owns, valid
 * until ec_kube_free(): copy (ec_str_dup) what must live longer. The ec_kube_* functions
 * overwrite it without freeing what it held, so free it before reusing it. */
typedef struct ec_kube_response {
    const char *verb;   /* the verb this answers ("get", "create"...; static) */
    int status;         /* the API server's HTTP status (refusals too: 403, 404, 409...);
                         * 0 when no response came, then `error` says why */
    ec_str object;      /* JSON text of the object read, created, applied, patched or deleted;
                         * absent (ptr NULL) otherwise */
    ec_str items;       /* a list's objects, every page, as the JSON text of one array; absent
                         * otherwise */
    ec_str *item;       /* the same objects one by one: item[0..n_items), each an object's text */
    size_t n_items;
    ec_str message;     /* a refusal's Status message (decoded); absent when there is none */
    ec_str error;       /* status 0: why no response came (decoded); absent otherwise */
    bool host_error;    /* error is the host's reason ({"error":"..."}, which starts with the
                         * prefixes of docs/ABI.md §6), not the helper's (an answer it could not
                         * read, an object that is not a JSON object, a desired without a name) */
    void *mem_[3];      /* private: what ec_kube_free frees */
} ec_kube_response;

/* Frees what `r` holds and zeroes it (a zeroed or freed response may be freed again). */
void ec_kube_free(ec_kube_response *r);

/* Why a request did not succeed, for deciding whether to retry (docs/ABI.md §6, "Why no
 * response came"). */
typedef enum ec_failure {
    EC_FAIL_NONE = 0,   /* a 2xx response */
    EC_FAIL_STATUS,     /* the API server refused: see status (transient: 5xx, 408, 429) */
    EC_FAIL_DENIED,     /* "denied...", "unknown verb...": not granted; do not retry */
    EC_FAIL_THROTTLED,  /* "throttled...": over max_writes_per_second; retry later */
    EC_FAIL_INVALID,    /* "malformed request...", "invalid request...", or the helper's own
                         * error: a bug; do not retry */
    EC_FAIL_UNAVAILABLE, /* "env var ", "cannot read ", "no Kubernetes connection" (replay) */
    EC_FAIL_UNREACHABLE /* anything else: a refused connection, a timeout; retry */
} ec_failure;

ec_failure ec_kube_failure(const ec_kube_response *r);
bool ec_kube_ok(const ec_kube_response *r);        /* a 2xx response */
bool ec_kube_transient(const ec_kube_response *r); /* a retry may help: 5xx, 408, 429,
                                                    * EC_FAIL_THROTTLED, EC_FAIL_UNREACHABLE */

/* One function per verb. Each builds the request JSON of docs/ABI.md §6 (strings escaped with
 * ec_buf_addquoted), calls kube_request, waits (the call blocks the plugin and counts against
 * its call_timeout_ms) and fills `out` (required). It returns true when the API server answered,
 * whatever the status (check out->status, or ec_kube_ok), and false when no response came
 * (out->error says why). Either way, free `out` with ec_kube_free.
 *
 * `resource` is a C string, as granted: "configmaps", "routes.route.openshift.io". Every other
 * string is an ec_str (EC_LIT for a literal, ec_cstr for a C string, straight from ec_event_head
 * or ec_json_find); an absent or empty namespace, selector or name is left out of the request:
 * an absent namespace means cluster-scoped (for list: all namespaces). `object` and `patch` are
 * the JSON text of an object; anything else is refused before sending (EC_FAIL_INVALID). The
 * host refuses what the plugin was not granted ([plugins.NAME.capabilities.kubernetes]). */
bool ec_kube_get(const char *resource, ec_str namespace_, ec_str name, ec_kube_response *out);
bool ec_kube_list(const char *resource, ec_str namespace_, ec_str label_selector,
                  ec_str field_selector, ec_kube_response *out); /* every page: out->item */
/* The object's metadata names it (name or generateName, and its namespace, or `namespace_`). */
bool ec_kube_create(const char *resource, ec_str namespace_, ec_str object, ec_kube_response *out);
/* Server-side apply (metadata.name required) under the plugin's field manager; `force` takes
 * over fields another manager owns (without it, such a conflict is a 409). */
bool ec_kube_apply(const char *resource, ec_str namespace_, ec_str object, bool force,
                   ec_kube_response *out);
/* An RFC 7386 JSON merge patch: members replace, `null` removes, objects merge. */
bool ec_kube_patch(const char *resource, ec_str namespace_, ec_str name, ec_str merge_patch,
                   ec_kube_response *out);
bool ec_kube_delete(const char *resource, ec_str namespace_, ec_str name, ec_kube_response *out);
/* Any request JSON as is (the functions above build theirs and call this); `verb` names it in
 * out->verb. */
bool ec_kube_send(const char *verb, ec_str request_json, ec_kube_response *out);

/* ---- Kubernetes, loop-safe: owned objects, compare before writing ----------------------------- */

/* The label that marks a plugin's own objects; its value is the owner (usually the plugin's
 * name). Grant the plugin label_selector = "app.kubernetes.io/managed-by=OWNER" and the host
 * refuses every write to an object without it. */
#define EC_OWNER_LABEL "app.kubernetes.io/managed-by"

/* What ec_kube_ensure and ec_kube_remove_owned did. */
typedef enum ec_kube_result {
    EC_KUBE_FAILED = 0, /* no response (out->error: the host's reason, or a desired without
                         * metadata.name); nothing written by this step */
    EC_KUBE_REFUSED,    /* the API server refused out->verb (get, create, apply, delete):
                         * out->status and out->message. A create refused with 409 means
                         * someone created the object in between */
    EC_KUBE_CREATED,    /* it was absent: created with the owner label (out->object) */
    EC_KUBE_UPDATED,    /* it was ours and differed: applied with force (out->object) */
    EC_KUBE_UNCHANGED,  /* it was ours with every desired field: nothing written (out->object:
                         * the object read) */
    EC_KUBE_NOT_OWNED,  /* it exists without our owner label: left alone (out->object) */
    EC_KUBE_DELETED,    /* remove_owned: ours, deleted */
    EC_KUBE_ABSENT      /* remove_owned: there was nothing to delete */
} ec_kube_result;

const char *ec_kube_result_name(ec_kube_result r); /* "failed", "refused", "created"... */
bool ec_kube_wrote(ec_kube_result r);              /* CREATED, UPDATED or DELETED */

/* Makes the object `desired` (JSON text: apiVersion, kind, metadata with name and, when
 * namespaced, namespace, and the fields to keep in line) exist with those fields, owned by
 * `owner`, writing only when needed:
 *   1. get. Absent (404): create `desired` with the owner label added: EC_KUBE_CREATED.
 *   2. Present without the owner label (or another owner's): EC_KUBE_NOT_OWNED, no write.
 *   3. Owned, with every field of desired (ec_kube_matches): EC_KUBE_UNCHANGED, no write.
 *   4. Owned and different: apply `desired` with the owner label, forced: EC_KUBE_UPDATED.
 * Compare-before-write makes it safe to call on every event, its own writes' events included.
 * A member removed from `desired` is not removed from the object (it still matches); delete
 * the object to start again. `out` (may be NULL) receives the last answer: free it. */
ec_kube_result ec_kube_ensure(const char *resource, ec_str desired, ec_str owner,
                              ec_kube_response *out);

/* Deletes the object only when it carries the owner label `owner`: get, then delete.
 * EC_KUBE_DELETED, EC_KUBE_ABSENT (none, or gone in between), EC_KUBE_NOT_OWNED (no write),
 * EC_KUBE_REFUSED or EC_KUBE_FAILED. `out` as for ec_kube_ensure. */
ec_kube_result ec_kube_remove_owned(const char *resource, ec_str namespace_, ec_str name,
                                    ec_str owner, ec_kube_response *out);

/* Whether `object` (JSON text) carries the owner label with the value `owner`. */
bool ec_kube_owns(ec_str object, ec_str owner);

/* What ec_kube_ensure compares: every top-level member of `desired` but apiVersion, kind,
 * metadata and status (spec, data...) with ec_json_contains, and metadata.labels and
 * metadata.annotations (others may add their own; only the desired ones count). */
bool ec_kube_matches(ec_str current, ec_str desired);

/* Appends the label selector of owner's objects, "app.kubernetes.io/managed-by=OWNER". */
void ec_kube_owner_selector(ec_buf *b, ec_str owner);

#ifndef __wasm__
/* ---- the native mock (unit tests; not in wasm builds) ----------------------------------------
 *
 * Built natively, `metric` and `kube_request` are served here instead of by the host. Every
 * request is recorded. Not thread-safe (nor is a plugin). Call ec_mock_reset() between tests.
 *
 * Kubernetes: each request is answered by the first of
 *   1. the next canned answer queued with ec_mock_kube_answer (FIFO);
 *   2. the transport set with ec_mock_kube_transport, when it writes an answer (it may leave
 *      `answer` empty to pass the request on, e.g. to refuse only some requests);
 *   3. the fake cluster, when enabled with ec_mock_kube_fake(true);
 *   4. else {"error":"no Kubernetes connection outside the host: ..."} (EC_FAIL_UNAVAILABLE). */
void ec_mock_reset(void); /* forgets requests, answers, the transport, the fake's objects and
                           * metric updates; disables the fake; accepts metrics again */

void ec_mock_kube_answer(ec_str answer_json); /* queues a copy */
typedef void (*ec_mock_kube_fn)(void *ctx, ec_str request_json, ec_buf *answer);
void ec_mock_kube_transport(ec_mock_kube_fn fn, void *ctx); /* NULL removes it */
void ec_mock_kube_fake(bool enabled);

size_t ec_mock_kube_count(void);          /* requests so far */
ec_str ec_mock_kube_request(size_t i);    /* the i-th request's JSON, oldest first */
const char *ec_mock_kube_verbs(void);     /* their verbs, e.g. "get create apply" (valid until
                                           * the next call of a mock function) */
void ec_mock_kube_clear_requests(void);

/* Answers for transports and the queue, as the host writes them. */
void ec_mock_kube_respond(ec_buf *answer, int status, ec_str object); /* {"status":..,"object":..} */
void ec_mock_kube_respond_list(ec_buf *answer, const ec_str *items, size_t n); /* status 200 */
void ec_mock_kube_refuse(ec_buf *answer, int status, ec_str message); /* {"status":..,"message":..} */
void ec_mock_kube_fail(ec_buf *answer, ec_str reason);                /* {"error":..} */

/* The fake cluster: objects (JSON text) by resource, namespace and name. It answers get; list
 * (by namespace and an equality label selector: k=v, k==v, k!=v, k, !k; the field selector is
 * ignored); create (201, or 409 when present); apply (created when absent, else merged in like
 * a merge patch: 200); patch (RFC 7386; 404 when absent); delete (answers the object; 404 when
 * absent). Each write gives the object a new metadata.resourceVersion, a metadata.uid when it
 * has none, and the namespace it is stored under. It checks no grants: assert the requests. */
void ec_fake_put(const char *resource, ec_str object);  /* stores as someone else's change:
                                                          * not recorded; replaces */
ec_str ec_fake_object(const char *resource, ec_str namespace_, ec_str name); /* stored text, or
                                                          * absent; valid until the next change */
bool ec_fake_remove(const char *resource, ec_str namespace_, ec_str name); /* not recorded */

/* Metrics: every update is recorded; it is accepted unless it breaks the host's rules (name,
 * labels, a negative counter, buckets, another kind for the same name: then the reason goes to
 * stderr) or ec_mock_metric_refuse(true) was called. */
size_t ec_mock_metric_count(void);
ec_str ec_mock_metric(size_t i); /* the i-th update's JSON, oldest first */
void ec_mock_metric_refuse(bool refuse);
#endif

/* Embeds the module's default subscription (docs/ABI.md, section 6) as the custom section
 * `event-controller.subscribe`. Use once per module, at file scope, with a string literal:
 *   EC_SUBSCRIBE("{\"resources\":[\"events\"]}");
 * (clang's __attribute__((section)) makes a data segment on wasm, not a custom section; the
 * assembler's .custom_section.NAME does. `#json` re-escapes the literal for `.ascii`.) */
#define EC_SUBSCRIBE(json)                                                                       \
    __asm__(".section \".custom_section.event-controller.subscribe\",\"\",@\n.ascii " #json     \
            "\n.text\n")

#ifdef __cplusplus
}
#endif

#endif /* EC_GUEST_H */
