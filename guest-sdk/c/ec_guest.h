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
 * ec_event_head (the event's identity) and ec_json_find (any members by dotted path, several in
 * one pass). Nothing here builds a tree or recurses deeper than the paths asked for.
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
