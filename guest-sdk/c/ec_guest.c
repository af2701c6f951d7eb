/*
 * ec_guest.c: the exports of guest ABI v1 and a small JSON member finder. See ec_guest.h.
 *
 * Built for wasm32-wasi as a reactor (-mexec-model=reactor). Built natively (no __wasm__), the
 * exports are plain functions and ec_log writes to stderr, so the helper can be unit-tested.
 */
#include "ec_guest.h"

#include <stdlib.h>
#include <string.h>

#ifdef __wasm__
#define EC_EXPORT(name) __attribute__((export_name(name), visibility("default")))
/* event_controller.log(level, ptr, len) */
__attribute__((import_module("event_controller"), import_name("log"))) extern void
ec_host_log(int32_t level, const char *ptr, int32_t len);
#else
#include <stdio.h>
#define EC_EXPORT(name)
#endif

/* The host reads at most this many result bytes (docs/ABI.md, section 3). */
#define EC_MAX_RESULT_LEN (1u << 20)
#define EC_MAX_PATHS 32
#define EC_MAX_DEPTH 16

/* ---- memory ----------------------------------------------------------------------------------- */

/* Out of memory: trap, so the host logs it and starts a fresh instance. (Under the host's
 * memory_mb cap, memory.grow itself traps before malloc could return NULL.) */
static void *ec_xrealloc(void *p, size_t len) {
    p = realloc(p, len ? len : 1);
    if (!p) __builtin_trap();
    return p;
}

/* Scratch blocks: a singly linked list, freed after each export call. */
typedef struct scratch {
    struct scratch *next;
    char data[];
} scratch;
static scratch *scratch_list;

void *ec_scratch(size_t len) {
    scratch *s = ec_xrealloc(NULL, sizeof(scratch) + len);
    s->next = scratch_list;
    scratch_list = s;
    return s->data;
}

static void scratch_free_all(void) {
    while (scratch_list) {
        scratch *next = scratch_list->next;
        free(scratch_list);
        scratch_list = next;
    }
}

/* ---- strings and buffers ---------------------------------------------------------------------- */

bool ec_str_eq(ec_str a, ec_str b) {
    if (!a.ptr || !b.ptr) return !a.ptr && !b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

bool ec_str_eqs(ec_str a, const char *s) {
    return a.ptr && ec_str_eq(a, (ec_str){s, strlen(s)});
}

ec_str ec_str_dup(ec_str s) {
    if (!s.ptr) return s;
    char *copy = ec_xrealloc(NULL, s.len + 1);
    memcpy(copy, s.ptr, s.len);
    copy[s.len] = '\0';
    return (ec_str){copy, s.len};
}

void ec_buf_add(ec_buf *b, const void *bytes, size_t len) {
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap - b->len < len) cap *= 2;
        b->ptr = ec_xrealloc(b->ptr, cap);
        b->cap = cap;
    }
    if (len) memcpy(b->ptr + b->len, bytes, len);
    b->len += len;
}

void ec_buf_adds(ec_buf *b, const char *s) { ec_buf_add(b, s, strlen(s)); }

void ec_buf_addstr(ec_buf *b, ec_str s) {
    if (s.ptr) ec_buf_add(b, s.ptr, s.len);
}

void ec_buf_addu(ec_buf *b, uint64_t n) {
    char digits[20];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    ec_buf_add(b, digits + i, sizeof digits - i);
}

/* ---- logging and config ----------------------------------------------------------------------- */

void ec_log(ec_level level, const char *text, size_t len) {
#ifdef __wasm__
    ec_host_log((int32_t)level, text, (int32_t)len);
#else
    fprintf(stderr, "[%d] %.*s\n", (int)level, (int)len, text);
#endif
}

void ec_logs(ec_level level, const char *text) { ec_log(level, text, strlen(text)); }

static ec_str config_copy;

ec_str ec_config(void) { return config_copy; }

/* The default init when the plugin defines none: accept any config. */
__attribute__((weak)) int ec_plugin_init(ec_str config) {
    (void)config;
    return 0;
}

/* ---- JSON reading ----------------------------------------------------------------------------- */

typedef struct reader {
    const char *s;
    size_t len, pos;
    ec_error err;
} reader;

static bool fail(reader *r, const char *message) {
    if (!r->err.message) r->err = (ec_error){message, r->pos};
    return false;
}

static void skip_ws(reader *r) {
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

/* The next non-whitespace byte, or 0 at the end. */
static char peek(reader *r) {
    skip_ws(r);
    return r->pos < r->len ? r->s[r->pos] : 0;
}

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits at p (already validated by scan_string). */
static unsigned hex4(const char *p) {
    return (unsigned)(hex(p[0]) << 12 | hex(p[1]) << 8 | hex(p[2]) << 4 | hex(p[3]));
}

/* At a '"': moves past the closing quote. The contents are s[*start, *end); *escaped tells
 * whether they contain a backslash escape. Escapes are validated here, so decode cannot fail. */
static bool scan_string(reader *r, size_t *start, size_t *end, bool *escaped) {
    size_t i = r->pos + 1;
    *start = i;
    *escaped = false;
    for (;;) {
        /* Fast path: plain bytes. */
        while (i < r->len && r->s[i] != '"' && r->s[i] != '\\' && (unsigned char)r->s[i] >= 0x20) i++;
        if (i >= r->len) {
            r->pos = i;
            return fail(r, "the JSON is truncated");
        }
        char c = r->s[i];
        if (c == '"') break;
        if (c != '\\') {
            r->pos = i;
            return fail(r, "control character in a JSON string");
        }
        *escaped = true;
        if (i + 1 >= r->len) {
            r->pos = i;
            return fail(r, "the JSON is truncated");
        }
        switch (r->s[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            break;
        case 'u':
            if (i + 6 > r->len || hex(r->s[i + 2]) < 0 || hex(r->s[i + 3]) < 0 ||
                hex(r->s[i + 4]) < 0 || hex(r->s[i + 5]) < 0) {
                r->pos = i;
                return fail(r, "invalid \\u escape in a JSON string");
            }
            i += 6;
            break;
        default:
            r->pos = i;
            return fail(r, "invalid escape in a JSON string");
        }
    }
    *end = i;
    r->pos = i + 1;
    return true;
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes validated JSON string contents s[0, n) into out (which needs at most n bytes: no escape
 * decodes to more bytes than it takes). A surrogate pair becomes one 4-byte sequence; a lone
 * surrogate becomes U+FFFD. Returns the decoded length. */
static size_t decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned cp = hex4(s + i);
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                unsigned lo = hex4(s + i + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* lone surrogate */
            o += put_utf8(out + o, cp);
            break;
        }
        default: out[o++] = e; break; /* " \ / */
        }
    }
    return o;
}

/* The string's contents as an ec_str: borrowed from the input, or decoded into scratch. */
static ec_str string_value(reader *r, size_t start, size_t end, bool escaped) {
    if (!escaped) return (ec_str){r->s + start, end - start};
    char *out = ec_scratch(end - start);
    return (ec_str){out, decode(r->s + start, end - start, out)};
}

/* Whether c can occur in a number, true, false or null (checked loosely: skipped, not parsed). */
static bool is_scalar_byte(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

/* Skips one value of any type without recursion. Containers are only checked for balanced
 * brackets and well-formed strings, not for commas and colons: they are skipped, not parsed. */
static bool skip_value(reader *r) {
    size_t depth = 0;
    do {
        char c = peek(r);
        size_t start, end;
        bool escaped;
        switch (c) {
        case '"':
            if (!scan_string(r, &start, &end, &escaped)) return false;
            break;
        case '{': case '[':
            depth++;
            r->pos++;
            break;
        case '}': case ']':
            if (depth == 0) return fail(r, "unexpected end of a JSON container");
            depth--;
            r->pos++;
            break;
        case ',': case ':':
            if (depth == 0) return fail(r, "expected a JSON value");
            r->pos++;
            break;
        case 0:
            return fail(r, "the JSON is truncated");
        default: { /* number, true, false, null */
            size_t from = r->pos;
            while (r->pos < r->len && is_scalar_byte(r->s[r->pos])) r->pos++;
            if (r->pos == from) return fail(r, "unexpected character in JSON");
        }
        }
    } while (depth > 0);
    return true;
}

/* The state of one ec_json_find pass. */
typedef struct finder {
    size_t n;
    /* The path segments: seg[i][d] and seg_len[i][d], nseg[i] of them. */
    const char *seg[EC_MAX_PATHS][EC_MAX_DEPTH];
    size_t seg_len[EC_MAX_PATHS][EC_MAX_DEPTH];
    size_t nseg[EC_MAX_PATHS];
    uint32_t pending; /* paths neither found nor known to be absent */
    ec_value *out;
} finder;

static ec_type type_of(char c) {
    switch (c) {
    case '"': return EC_STRING;
    case '{': return EC_OBJECT;
    case '[': return EC_ARRAY;
    case 't': case 'f': return EC_BOOL;
    case 'n': return EC_NULL;
    default: return EC_NUMBER;
    }
}

/* Stores v as the value of every path in `leaves`, which are then settled. */
static void set_leaves(finder *f, uint32_t leaves, ec_value v) {
    for (size_t i = 0; i < f->n; i++)
        if (leaves >> i & 1) f->out[i] = v;
    f->pending &= ~leaves;
}

/* Reads one value into out[i] for every path in `leaves`. */
static bool read_leaf(reader *r, finder *f, uint32_t leaves) {
    char c = peek(r);
    ec_value v = {type_of(c), {NULL, 0}};
    size_t from = r->pos;
    if (c == '"') {
        size_t start, end;
        bool escaped;
        if (!scan_string(r, &start, &end, &escaped)) return false;
        v.text = string_value(r, start, end, escaped);
    } else {
        if (!skip_value(r)) return false;
        v.text = (ec_str){r->s + from, r->pos - from};
    }
    set_leaves(f, leaves, v);
    return true;
}

/* Whether the key s[start, end) equals segment d of path i. */
static bool key_is(reader *r, size_t start, size_t end, bool escaped, ec_str key_decoded,
                   const finder *f, size_t i, size_t d) {
    ec_str seg = {f->seg[i][d], f->seg_len[i][d]};
    if (!escaped) return ec_str_eq((ec_str){r->s + start, end - start}, seg);
    return ec_str_eq(key_decoded, seg);
}

/* At a '{' reached through the first `depth` segments of the paths in `active`: reads its members,
 * descending into those that continue a path. Sets *stop when every path is settled before the
 * end of the document, so the caller stops reading. */
static bool find_in_object(reader *r, finder *f, uint32_t active, size_t depth, bool *stop) {
    r->pos++; /* '{' */
    if (peek(r) == '}') {
        r->pos++;
        f->pending &= ~active;
        *stop = f->pending == 0 && depth > 0;
        return true;
    }
    for (;;) {
        if (peek(r) != '"') return fail(r, "expected a member name");
        size_t start, end;
        bool escaped;
        if (!scan_string(r, &start, &end, &escaped)) return false;
        ec_str key_decoded = escaped ? string_value(r, start, end, true) : (ec_str){NULL, 0};
        if (peek(r) != ':') return fail(r, "expected ':'");
        r->pos++;

        uint32_t leaves = 0, deeper = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (!((active & f->pending) >> i & 1)) continue;
            if (!key_is(r, start, end, escaped, key_decoded, f, i, depth)) continue;
            if (f->nseg[i] == depth + 1)
                leaves |= 1u << i;
            else
                deeper |= 1u << i;
        }
        char c = peek(r);
        size_t from = r->pos;
        if (deeper && c == '{') {
            /* While a leaf here is pending, the recursion cannot stop early: it reads the whole
             * object, whose raw text then becomes the leaf's value. */
            if (!find_in_object(r, f, deeper, depth + 1, stop)) return false;
            if (*stop) return true;
            if (leaves) set_leaves(f, leaves, (ec_value){EC_OBJECT, {r->s + from, r->pos - from}});
        } else {
            /* A leaf, or a path through a value that is not an object (settled as absent). */
            f->pending &= ~deeper;
            if (leaves ? !read_leaf(r, f, leaves) : !skip_value(r)) return false;
        }
        if (f->pending == 0) {
            *stop = true;
            return true;
        }
        c = peek(r);
        r->pos++;
        if (c == ',') continue;
        if (c == '}') break;
        r->pos--;
        return fail(r, c ? "expected ',' or '}'" : "the JSON is truncated");
    }
    /* The object has ended: what was not found in it is absent. */
    f->pending &= ~active;
    *stop = f->pending == 0 && depth > 0; /* at depth 0 the document has been read whole */
    return true;
}

bool ec_json_find(ec_str json, const char *const *paths, size_t n, ec_value *out, ec_error *err) {
    static finder f; /* ~4 KiB: kept off the small shadow stack */
    reader r = {json.ptr, json.ptr ? json.len : 0, 0, {NULL, 0}};
    bool ok = false;
    memset(out, 0, n * sizeof *out);
    f.n = n;
    f.out = out;
    f.pending = 0;
    if (n > EC_MAX_PATHS) {
        fail(&r, "too many paths (at most 32)");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = paths[i];
        size_t d = 0;
        for (;;) {
            const char *dot = strchr(p, '.');
            size_t len = dot ? (size_t)(dot - p) : strlen(p);
            if (d == EC_MAX_DEPTH) {
                fail(&r, "a path is too deep (at most 16 members)");
                goto done;
            }
            f.seg[i][d] = p;
            f.seg_len[i][d++] = len;
            if (!dot) break;
            p = dot + 1;
        }
        f.nseg[i] = d;
        f.pending |= 1u << i;
    }
    if (peek(&r) != '{') {
        fail(&r, "the JSON is not an object");
        goto done;
    }
    bool stop = false;
    if (!find_in_object(&r, &f, f.pending, 0, &stop)) goto done;
    if (stop) {
        /* Stopped early: the cheap check on the unread rest is that the document ends with '}',
         * which catches a line cut off in transit. */
        size_t end = r.len;
        while (end > r.pos && strchr(" \t\r\n", r.s[end - 1])) end--;
        if (end == 0 || r.s[end - 1] != '}') {
            r.pos = end;
            fail(&r, "the JSON is truncated");
            goto done;
        }
    } else if (peek(&r) != 0) {
        fail(&r, "unexpected data after the JSON object");
        goto done;
    }
    ok = true;
done:
    if (!ok && err) *err = r.err;
    return ok;
}

bool ec_event_head(ec_str event, ec_head *head, ec_error *err) {
    static const char *const paths[] = {"type", "object.kind", "object.apiVersion",
                                        "object.metadata.name", "object.metadata.namespace"};
    ec_value v[5];
    memset(head, 0, sizeof *head);
    if (!ec_json_find(event, paths, 5, v, err)) return false;
    ec_str *fields[5] = {&head->type, &head->kind, &head->api_version, &head->name,
                         &head->namespace_};
    for (size_t i = 0; i < 5; i++)
        if (v[i].type == EC_STRING) *fields[i] = v[i].text;
    return true;
}

/* ---- results ---------------------------------------------------------------------------------- */

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};

/* The length of byte c in a JSON string as serde_json escapes it. */
static size_t escaped_len(unsigned char c) {
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

static void put_escaped(ec_buf *b, const char *s, size_t n) {
    static const char hexdigits[] = "0123456789abcdef";
    size_t plain = 0; /* start of the current run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (escaped_len(c) == 1) continue;
        ec_buf_add(b, s + plain, i - plain);
        plain = i + 1;
        char e[6] = {'\\', 0};
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hexdigits[c >> 4];
            e[5] = hexdigits[c & 15];
            ec_buf_add(b, e, 6);
            continue;
        }
        ec_buf_add(b, e, 2);
    }
    ec_buf_add(b, s + plain, n - plain);
}

/* {"level":"LEVEL","message":"..."}, the message cut at a character boundary and marked when the
 * whole would exceed the host's 1 MiB limit (as the Rust SDK does). */
static ec_buf encode_result(ec_level level, const char *msg, size_t len) {
    static const char truncated[] = "\xE2\x80\xA6 [truncated]"; /* "… [truncated]" */
    size_t budget = EC_MAX_RESULT_LEN - 64 - (sizeof truncated - 1), used = 0, cut = len;
    for (size_t i = 0; i < len; i++) {
        used += escaped_len((unsigned char)msg[i]);
        if (used > budget) {
            cut = i;
            while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80) cut--;
            break;
        }
    }
    ec_buf b = {0};
    ec_buf_adds(&b, "{\"level\":\"");
    ec_buf_adds(&b, level_names[level]);
    ec_buf_adds(&b, "\",\"message\":\"");
    put_escaped(&b, msg, cut);
    if (cut < len) ec_buf_add(&b, truncated, sizeof truncated - 1);
    ec_buf_adds(&b, "\"}");
    return b;
}

/* ---- the exports ------------------------------------------------------------------------------ */

EC_EXPORT("alloc") void *ec_export_alloc(int32_t len) {
    return ec_xrealloc(NULL, (uint32_t)len);
}

/* Frees input buffers and results alike: both come from malloc. */
EC_EXPORT("dealloc") void ec_export_dealloc(void *ptr, int32_t len) {
    (void)len;
    free(ptr);
}

EC_EXPORT("ec_abi_version") int32_t ec_export_abi_version(void) { return 1; }

EC_EXPORT("init") int32_t ec_export_init(const char *ptr, int32_t len) {
    free((void *)config_copy.ptr);
    config_copy = ec_str_dup((ec_str){ptr ? ptr : "", ptr ? (uint32_t)len : 0});
    int code = ec_plugin_init(config_copy);
    scratch_free_all();
    return code;
}

/* Returns (result_ptr << 32) | result_len, or 0 for no outcome. */
EC_EXPORT("handle_event") int64_t ec_export_handle_event(const char *ptr, int32_t len) {
    ec_buf message = {0};
    ec_level level = ec_plugin_handle_event((ec_str){ptr, (uint32_t)len}, &message);
    int64_t packed = 0;
    if (level >= EC_TRACE && level <= EC_ERROR) {
        ec_buf result = encode_result(level, message.ptr ? message.ptr : "", message.len);
        /* The result stays allocated until the host calls dealloc(result.ptr, result.len). */
        packed = (int64_t)((uint64_t)(uintptr_t)result.ptr << 32 | (uint32_t)result.len);
    }
    free(message.ptr);
    scratch_free_all();
    return packed;
}
