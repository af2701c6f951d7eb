/*
 * ec_guest.c: the exports of guest ABI v1, a small JSON member finder, and the host functions
 * log, metric and kube_request. See ec_guest.h.
 *
 * Built for wasm32-wasi as a reactor (-mexec-model=reactor). Built natively (no __wasm__), the
 * exports are plain functions, ec_log writes to stderr, and metric and kube_request go to a mock
 * (the end of this file), so the helper and plugins can be unit-tested.
 */
#include "ec_guest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __wasm__
#define EC_EXPORT(name) __attribute__((export_name(name), visibility("default")))
/* event_controller.log(level, ptr, len) */
__attribute__((import_module("event_controller"), import_name("log"))) extern void
ec_host_log(int32_t level, const char *ptr, int32_t len);
/* event_controller.metric(ptr, len) -> 0 recorded, 1 refused */
__attribute__((import_module("event_controller"), import_name("metric"))) extern int32_t
ec_host_metric(const char *ptr, int32_t len);
/* event_controller.kube_request(ptr, len) -> (answer_ptr << 32) | answer_len, allocated with the
 * module's alloc; the module frees it */
__attribute__((import_module("event_controller"), import_name("kube_request"))) extern int64_t
ec_host_kube_request(const char *ptr, int32_t len);
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

void ec_buf_addquoted(ec_buf *b, ec_str s) {
    ec_buf_add(b, "\"", 1);
    if (s.ptr) put_escaped(b, s.ptr, s.len);
    ec_buf_add(b, "\"", 1);
}

ec_str ec_cstr(const char *s) { return s ? (ec_str){s, strlen(s)} : (ec_str){NULL, 0}; }

/* ---- JSON containers, comparison and merging -------------------------------------------------- */

static const ec_str no_str = {NULL, 0};

static ec_str trim(ec_str s) {
    if (!s.ptr) return s;
    while (s.len && strchr(" \t\r\n", s.ptr[0]) && s.ptr[0]) s.ptr++, s.len--;
    while (s.len && strchr(" \t\r\n", s.ptr[s.len - 1]) && s.ptr[s.len - 1]) s.len--;
    return s;
}

/* The JSON type of the value text v (EC_ABSENT when absent or blank). */
static ec_type raw_type(ec_str v) {
    v = trim(v);
    return v.ptr && v.len ? type_of(v.ptr[0]) : EC_ABSENT;
}

bool ec_json_iter_init(ec_json_iter *it, ec_str container) {
    reader r = {container.ptr, container.ptr ? container.len : 0, 0, {NULL, 0}};
    char c = peek(&r);
    memset(it, 0, sizeof *it);
    it->s_ = r.s;
    it->len_ = r.len;
    if (c != '{' && c != '[') {
        fail(&r, "not a JSON object or array");
        it->err = r.err;
        it->state_ = 2;
        return false;
    }
    it->pos_ = r.pos + 1;
    it->close_ = c == '{' ? '}' : ']';
    return true;
}

/* The next member or element, raw: the key's contents between its quotes (absent in an array)
 * and whether they hold escapes, and the value's text. state_: 0 before the first, 1 after one,
 * 2 done. */
static bool iter_next_raw(ec_json_iter *it, ec_str *key, bool *key_escaped, ec_str *value) {
    if (it->state_ == 2) return false;
    reader r = {it->s_, it->len_, it->pos_, {NULL, 0}};
    char c = peek(&r);
    if (c == it->close_) {
        it->pos_ = r.pos + 1;
        it->state_ = 2;
        return false;
    }
    if (it->state_ == 1) {
        if (c != ',') {
            fail(&r, !c ? "the JSON is truncated"
                        : it->close_ == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
            goto bad;
        }
        r.pos++;
        c = peek(&r);
    }
    *key = no_str;
    *key_escaped = false;
    if (it->close_ == '}') {
        size_t start, end;
        if (c != '"') {
            fail(&r, c ? "expected a member name" : "the JSON is truncated");
            goto bad;
        }
        if (!scan_string(&r, &start, &end, key_escaped)) goto bad;
        *key = (ec_str){r.s + start, end - start};
        if (peek(&r) != ':') {
            fail(&r, "expected ':'");
            goto bad;
        }
        r.pos++;
    }
    peek(&r);
    size_t from = r.pos;
    if (!skip_value(&r)) goto bad;
    *value = (ec_str){r.s + from, r.pos - from};
    it->pos_ = r.pos;
    it->state_ = 1;
    return true;
bad:
    it->err = r.err;
    it->state_ = 2;
    return false;
}

/* JSON string contents as an ec_str: borrowed when unescaped, else decoded into scratch. */
static ec_str contents_value(ec_str contents, bool escaped) {
    if (!escaped) return contents;
    char *out = ec_scratch(contents.len);
    return (ec_str){out, decode(contents.ptr, contents.len, out)};
}

/* At a string token `raw` (with its quotes): its contents and whether they hold escapes. */
static bool string_token(ec_str raw, ec_str *contents, bool *escaped) {
    raw = trim(raw);
    reader r = {raw.ptr, raw.ptr ? raw.len : 0, 0, {NULL, 0}};
    size_t start, end;
    if (peek(&r) != '"' || !scan_string(&r, &start, &end, escaped)) return false;
    *contents = (ec_str){raw.ptr + start, end - start};
    return true;
}

/* The ec_value of the value text `raw`: a decoded string, or the text itself. */
static ec_value value_of(ec_str raw) {
    ec_type type = raw_type(raw);
    ec_str contents;
    bool escaped;
    if (type == EC_STRING) {
        if (!string_token(raw, &contents, &escaped)) return (ec_value){EC_ABSENT, no_str};
        return (ec_value){EC_STRING, contents_value(contents, escaped)};
    }
    return (ec_value){type, type == EC_ABSENT ? no_str : trim(raw)};
}

bool ec_json_next(ec_json_iter *it, ec_str *key, ec_value *value) {
    ec_str k, v;
    bool escaped;
    if (!iter_next_raw(it, &k, &escaped, &v)) return false;
    if (key) *key = k.ptr ? contents_value(k, escaped) : k;
    if (value) *value = value_of(v);
    return true;
}

/* Whether the JSON string contents `raw` decode to the bytes of `s`. */
static bool contents_eq(ec_str raw, bool escaped, ec_str s) {
    if (!s.ptr) return false;
    if (!escaped) return raw.len == s.len && (!s.len || memcmp(raw.ptr, s.ptr, s.len) == 0);
    if (s.len > raw.len) return false; /* decoding never lengthens */
    char small[256];
    char *buf = raw.len <= sizeof small ? small : ec_xrealloc(NULL, raw.len);
    size_t n = decode(raw.ptr, raw.len, buf);
    bool eq = n == s.len && (!n || memcmp(buf, s.ptr, n) == 0);
    if (buf != small) free(buf);
    return eq;
}

/* Whether two JSON string contents decode to the same bytes. */
static bool contents_eq2(ec_str a, bool a_escaped, ec_str b, bool b_escaped) {
    if (!a_escaped) return contents_eq(b, b_escaped, a);
    if (!b_escaped) return contents_eq(a, true, b);
    char *buf = ec_xrealloc(NULL, a.len);
    bool eq = contents_eq(b, true, (ec_str){buf, decode(a.ptr, a.len, buf)});
    free(buf);
    return eq;
}

/* The raw value of the first member of `object` whose name's contents equal `key` (raw, escaped
 * when key_escaped). */
static bool find_member_raw(ec_str object, ec_str key, bool key_escaped, ec_str *value) {
    ec_json_iter it;
    ec_str k, v;
    bool escaped;
    if (!ec_json_iter_init(&it, object) || it.close_ != '}') return false;
    while (iter_next_raw(&it, &k, &escaped, &v))
        if (contents_eq2(k, escaped, key, key_escaped)) {
            *value = v;
            return true;
        }
    return false;
}

/* The raw value of the member named `key` (plain bytes) of `object`. */
static bool find_member(ec_str object, ec_str key, ec_str *value) {
    ec_json_iter it;
    ec_str k, v;
    bool escaped;
    if (!ec_json_iter_init(&it, object) || it.close_ != '}') return false;
    while (iter_next_raw(&it, &k, &escaped, &v))
        if (contents_eq(k, escaped, key)) {
            *value = v;
            return true;
        }
    return false;
}

/* The raw value at the member names keys[0..n) from `object`; absent when missing. */
static ec_str member_path(ec_str object, const char *const *keys, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!find_member(object, ec_cstr(keys[i]), &object)) return no_str;
    return object;
}

ec_value ec_json_member(ec_str object, ec_str key) {
    ec_str v;
    return find_member(object, key, &v) ? value_of(v) : (ec_value){EC_ABSENT, no_str};
}

/* Whether the object or array text `v` has no member or element (false when malformed). */
static bool is_empty_container(ec_str v) {
    ec_json_iter it;
    ec_str k, x;
    bool escaped;
    return ec_json_iter_init(&it, v) && !iter_next_raw(&it, &k, &escaped, &x) && !it.err.message;
}

bool ec_json_contains(ec_str current, ec_str desired) {
    current = trim(current);
    desired = trim(desired);
    ec_type tc = raw_type(current), tw = raw_type(desired);
    if (tc == EC_ABSENT) tc = EC_NULL; /* a missing member counts as null */
    if (tw == EC_ABSENT) tw = EC_NULL;
    if (tw != tc) return false;
    ec_json_iter a, b;
    ec_str k, ka, va, vb;
    bool escaped, ea, eb;
    switch (tw) {
    case EC_OBJECT: {
        bool any = false;
        ec_json_iter_init(&b, desired);
        while (iter_next_raw(&b, &k, &escaped, &vb)) {
            any = true;
            if (find_member_raw(current, k, escaped, &va)) {
                if (!ec_json_contains(va, vb)) return false;
            } else if (raw_type(vb) != EC_NULL) {
                return false;
            }
        }
        if (b.err.message) return false;
        return any || is_empty_container(current); /* {} means empty */
    }
    case EC_ARRAY:
        ec_json_iter_init(&a, current);
        ec_json_iter_init(&b, desired);
        for (;;) {
            bool ha = iter_next_raw(&a, &ka, &ea, &va), hb = iter_next_raw(&b, &k, &eb, &vb);
            if (ha != hb) return false;
            if (!ha) return !a.err.message && !b.err.message;
            if (!ec_json_contains(va, vb)) return false;
        }
    case EC_STRING:
        return string_token(current, &ka, &ea) && string_token(desired, &k, &eb) &&
               contents_eq2(ka, ea, k, eb);
    case EC_NULL: /* null or missing */
        return true;
    default: /* numbers, true, false: as written */
        return current.len == desired.len && memcmp(current.ptr, desired.ptr, current.len) == 0;
    }
}

/* Appends `,"key":` (the key's raw contents), without the comma before the first. */
static void put_key(ec_buf *out, bool *first, ec_str key) {
    if (*first)
        ec_buf_add(out, "\"", 1);
    else
        ec_buf_add(out, ",\"", 2);
    *first = false;
    ec_buf_add(out, key.ptr, key.len);
    ec_buf_add(out, "\":", 2);
}

/* Appends `target` merged with `patch` as RFC 7386 says (both JSON texts; target may be
 * absent): a patch that is not an object replaces; an object's members replace or merge into
 * the target's, `null` removes. Members keep the target's order, new ones follow. */
static void json_merge(ec_buf *out, ec_str target, ec_str patch) {
    patch = trim(patch);
    if (raw_type(patch) != EC_OBJECT) {
        ec_buf_add(out, patch.ptr, patch.len);
        return;
    }
    if (raw_type(target) != EC_OBJECT) target = EC_LIT("{}");
    ec_json_iter it;
    ec_str k, v, pv;
    bool escaped, first = true;
    ec_buf_add(out, "{", 1);
    ec_json_iter_init(&it, target);
    while (iter_next_raw(&it, &k, &escaped, &v)) {
        if (!find_member_raw(patch, k, escaped, &pv)) {
            put_key(out, &first, k);
            ec_buf_add(out, v.ptr, v.len);
        } else if (raw_type(pv) != EC_NULL) {
            put_key(out, &first, k);
            json_merge(out, v, pv);
        }
    }
    ec_json_iter_init(&it, patch);
    while (iter_next_raw(&it, &k, &escaped, &pv)) {
        if (raw_type(pv) == EC_NULL || find_member_raw(target, k, escaped, &v)) continue;
        put_key(out, &first, k);
        json_merge(out, no_str, pv);
    }
    ec_buf_add(out, "}", 1);
}

/* Whether `s` is the text of one JSON object (checked as ec_json_find skips: brackets balanced,
 * strings well formed). */
static bool is_object_text(ec_str s) {
    reader r = {s.ptr, s.ptr ? s.len : 0, 0, {NULL, 0}};
    return peek(&r) == '{' && skip_value(&r) && peek(&r) == 0;
}

/* ---- metrics ---------------------------------------------------------------------------------- */

static int32_t metric_exchange(const char *json, size_t len);

/* 10^k; exact for 0 <= k <= 22. */
static double pow10_of(int k) {
    static const double exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (k < 0) return 1.0 / pow10_of(-k);
    double p = 1;
    for (; k > 22; k -= 22) p *= 1e22;
    return p * exact[k];
}

/* Appends the finite number v as JSON: integers below 1e15 exactly, anything else with 15
 * significant digits (shortest form: 0.042, 1.5e-07 as 1.5e-7, 2.5e+20 as 2.5e20), without
 * snprintf, which would bring wasi-libc's formatting code. */
static void put_number(ec_buf *b, double v) {
    if (v == 0) {
        ec_buf_add(b, "0", 1);
        return;
    }
    if (v < 0) {
        ec_buf_add(b, "-", 1);
        v = -v;
    }
    if (v < 1e15 && v == (double)(uint64_t)v) {
        ec_buf_addu(b, (uint64_t)v);
        return;
    }
    int shift = 0;
    if (v < 1e-290) { /* tiny (subnormal even): scale up first, so that 10^-e stays finite */
        v *= 1e30;
        shift = -30;
    }
    int e = 0; /* 10^e <= v < 10^(e+1) */
    while (e < 308 && v >= pow10_of(e + 1)) e++;
    while (e > -300 && v < pow10_of(e)) e--;
    int k = 14 - e;
    double x = k >= 0 ? v * pow10_of(k) : v / pow10_of(-k); /* one rounding for |k| <= 22 */
    uint64_t m = x >= 1 && x < 1e16 ? (uint64_t)(x + 0.5) : 100000000000000u;
    while (m >= 1000000000000000u) {
        m = (m + 5) / 10;
        e++;
    }
    while (m < 100000000000000u) {
        m *= 10;
        e--;
    }
    e += shift;
    char d[15];
    for (int i = 14; i >= 0; i--, m /= 10) d[i] = (char)('0' + m % 10);
    int n = 15;
    while (n > 1 && d[n - 1] == '0') n--;
    if (e >= 0 && e < 15) {
        int whole = e + 1;
        ec_buf_add(b, d, (size_t)(n < whole ? n : whole));
        for (int i = n; i < whole; i++) ec_buf_add(b, "0", 1);
        if (n > whole) {
            ec_buf_add(b, ".", 1);
            ec_buf_add(b, d + whole, (size_t)(n - whole));
        }
    } else if (e < 0 && e >= -5) {
        ec_buf_add(b, "0.", 2);
        for (int i = -1; i > e; i--) ec_buf_add(b, "0", 1);
        ec_buf_add(b, d, (size_t)n);
    } else {
        ec_buf_add(b, d, 1);
        if (n > 1) {
            ec_buf_add(b, ".", 1);
            ec_buf_add(b, d + 1, (size_t)(n - 1));
        }
        ec_buf_add(b, e < 0 ? "e-" : "e", e < 0 ? 2 : 1);
        ec_buf_addu(b, (uint64_t)(e < 0 ? -e : e));
    }
}

/* {"name":..,"kind":..,"help":..,"labels":{..},"value":..,"buckets":[..]}, as the Rust SDK
 * orders it; help, labels and buckets only when given. */
static bool metric_update(const char *kind, const char *name, const char *help,
                          const ec_label *labels, size_t n_labels, double value,
                          const double *buckets, size_t n_buckets) {
    if (!name || !isfinite(value)) return false;
    for (size_t i = 0; i < n_buckets; i++)
        if (!isfinite(buckets[i])) return false;
    ec_buf b = {0};
    ec_buf_adds(&b, "{\"name\":");
    ec_buf_addquoted(&b, ec_cstr(name));
    ec_buf_adds(&b, ",\"kind\":\"");
    ec_buf_adds(&b, kind);
    ec_buf_adds(&b, "\"");
    if (help && *help) {
        ec_buf_adds(&b, ",\"help\":");
        ec_buf_addquoted(&b, ec_cstr(help));
    }
    if (n_labels) {
        ec_buf_adds(&b, ",\"labels\":{");
        for (size_t i = 0; i < n_labels; i++) {
            if (i) ec_buf_add(&b, ",", 1);
            ec_buf_addquoted(&b, ec_cstr(labels[i].name ? labels[i].name : ""));
            ec_buf_add(&b, ":", 1);
            ec_buf_addquoted(&b, labels[i].value.ptr ? labels[i].value : EC_LIT(""));
        }
        ec_buf_add(&b, "}", 1);
    }
    ec_buf_adds(&b, ",\"value\":");
    put_number(&b, value);
    if (n_buckets) {
        ec_buf_adds(&b, ",\"buckets\":[");
        for (size_t i = 0; i < n_buckets; i++) {
            if (i) ec_buf_add(&b, ",", 1);
            put_number(&b, buckets[i]);
        }
        ec_buf_add(&b, "]", 1);
    }
    ec_buf_add(&b, "}", 1);
    int32_t refused = metric_exchange(b.ptr, b.len);
    free(b.ptr);
    return refused == 0;
}

bool ec_counter(const char *name, const char *help, const ec_label *labels, size_t n_labels,
                double by) {
    return metric_update("counter", name, help, labels, n_labels, by, NULL, 0);
}

bool ec_gauge(const char *name, const char *help, const ec_label *labels, size_t n_labels,
              double value) {
    return metric_update("gauge", name, help, labels, n_labels, value, NULL, 0);
}

bool ec_observe(const char *name, const char *help, const ec_label *labels, size_t n_labels,
                double value) {
    return metric_update("histogram", name, help, labels, n_labels, value, NULL, 0);
}

bool ec_observe_buckets(const char *name, const char *help, const ec_label *labels,
                        size_t n_labels, const double *buckets, size_t n_buckets, double value) {
    return metric_update("histogram", name, help, labels, n_labels, value, buckets, n_buckets);
}

/* ---- Kubernetes ------------------------------------------------------------------------------- */

/* Hands the request to kube_request; the answer is malloc'ed (by the host, through alloc) and
 * freed by the caller. False when the host returned no buffer. */
static bool kube_exchange(ec_str request, char **answer, size_t *len);

#define HELPER_NO_ANSWER "the host's kube_request returned no answer"

void ec_kube_free(ec_kube_response *r) {
    if (!r) return;
    for (size_t i = 0; i < sizeof r->mem_ / sizeof r->mem_[0]; i++) free(r->mem_[i]);
    memset(r, 0, sizeof *r);
}

/* Keeps a copy of s in r's memory (one such string per response). */
static ec_str keep_text(ec_kube_response *r, ec_str s) {
    free(r->mem_[2]);
    ec_str copy = ec_str_dup(s);
    r->mem_[2] = (void *)copy.ptr;
    return copy;
}

/* Fails with the helper's own error (status 0, host_error false). */
static bool helper_error(ec_kube_response *r, const char *message, const char *detail,
                         size_t offset) {
    ec_buf b = {0};
    ec_buf_adds(&b, message);
    if (detail) {
        ec_buf_adds(&b, ": ");
        ec_buf_adds(&b, detail);
        ec_buf_adds(&b, " at byte ");
        ec_buf_addu(&b, offset);
    }
    r->status = 0;
    r->host_error = false;
    r->error = keep_text(r, (ec_str){b.ptr, b.len});
    free(b.ptr);
    return false;
}

/* Reads the host's answer (kept in r): {"error":".."} or {"status":N,"object"|"items"|"message"}. */
static bool read_answer(ec_kube_response *r, char *answer, size_t len) {
    static const char *const paths[] = {"error", "status", "object", "items", "message"};
    static const char cannot[] = "the host's kube_request answer cannot be read";
    ec_value v[5];
    ec_error err = {NULL, 0};
    r->mem_[0] = answer;
    if (!ec_json_find((ec_str){answer, len}, paths, 5, v, &err))
        return helper_error(r, cannot, err.message, err.offset);
    if (v[0].type == EC_STRING) {
        r->error = keep_text(r, v[0].text);
        r->host_error = true;
        return false;
    }
    uint32_t status = 0;
    bool digits = v[1].type == EC_NUMBER && v[1].text.len > 0 && v[1].text.len <= 5;
    for (size_t i = 0; digits && i < v[1].text.len; i++) {
        char c = v[1].text.ptr[i];
        digits = c >= '0' && c <= '9';
        status = status * 10 + (uint32_t)(c - '0');
    }
    if (!digits || status == 0 || status > 65535)
        return helper_error(r, "the host's kube_request answer has no valid status", NULL, 0);
    r->status = (int)status;
    if (v[2].type != EC_ABSENT && v[2].type != EC_NULL) r->object = v[2].text;
    if (v[4].type == EC_STRING) r->message = keep_text(r, v[4].text);
    if (v[3].type == EC_ARRAY) {
        ec_json_iter it;
        ec_str k, item;
        bool escaped;
        size_t cap = 0;
        r->items = v[3].text;
        ec_json_iter_init(&it, r->items);
        while (iter_next_raw(&it, &k, &escaped, &item)) {
            if (r->n_items == cap) {
                cap = cap ? cap * 2 : 16;
                r->item = ec_xrealloc(r->item, cap * sizeof *r->item);
                r->mem_[1] = r->item;
            }
            r->item[r->n_items++] = item;
        }
        if (it.err.message) {
            r->object = r->items = r->message = no_str;
            r->item = NULL;
            r->n_items = 0;
            return helper_error(r, cannot, it.err.message,
                                (size_t)(v[3].text.ptr - answer) + it.err.offset);
        }
    }
    return true;
}

bool ec_kube_send(const char *verb, ec_str request, ec_kube_response *out) {
    char *answer;
    size_t len;
    memset(out, 0, sizeof *out);
    out->verb = verb;
    if (!kube_exchange(request, &answer, &len)) return helper_error(out, HELPER_NO_ANSWER, NULL, 0);
    return read_answer(out, answer, len);
}

/* Appends ,"name":"value" when value is present and not empty. */
static void put_string_field(ec_buf *b, const char *name, ec_str value) {
    if (!value.ptr || !value.len) return;
    ec_buf_adds(b, ",\"");
    ec_buf_adds(b, name);
    ec_buf_adds(b, "\":");
    ec_buf_addquoted(b, value);
}

/* Builds the request in the Rust SDK's member order and sends it. */
static bool kube_call(const char *verb, const char *resource, ec_str namespace_, ec_str name,
                      ec_str patch, ec_str object, ec_str label_selector, ec_str field_selector,
                      bool force, ec_kube_response *out) {
    ec_buf b = {0};
    ec_buf_adds(&b, "{\"verb\":\"");
    ec_buf_adds(&b, verb);
    ec_buf_adds(&b, "\",\"resource\":");
    ec_buf_addquoted(&b, ec_cstr(resource));
    put_string_field(&b, "namespace", namespace_);
    put_string_field(&b, "name", name);
    if (patch.ptr) {
        ec_buf_adds(&b, ",\"patch\":");
        ec_buf_addstr(&b, trim(patch));
    }
    if (object.ptr) {
        ec_buf_adds(&b, ",\"object\":");
        ec_buf_addstr(&b, trim(object));
    }
    put_string_field(&b, "label_selector", label_selector);
    put_string_field(&b, "field_selector", field_selector);
    if (force) ec_buf_adds(&b, ",\"force\":true");
    ec_buf_add(&b, "}", 1);
    bool answered = ec_kube_send(verb, (ec_str){b.ptr, b.len}, out);
    free(b.ptr);
    return answered;
}

/* Refuses, before sending, an object or patch that is not a JSON object. */
static bool not_an_object(const char *verb, const char *what, ec_kube_response *out) {
    memset(out, 0, sizeof *out);
    out->verb = verb;
    ec_buf b = {0};
    ec_buf_adds(&b, "malformed request: the ");
    ec_buf_adds(&b, what);
    ec_buf_adds(&b, " is not a JSON object");
    ec_buf_add(&b, "", 1);
    helper_error(out, b.ptr, NULL, 0);
    free(b.ptr);
    return false;
}

bool ec_kube_get(const char *resource, ec_str namespace_, ec_str name, ec_kube_response *out) {
    return kube_call("get", resource, namespace_, name, no_str, no_str, no_str, no_str, false,
                     out);
}

bool ec_kube_list(const char *resource, ec_str namespace_, ec_str label_selector,
                  ec_str field_selector, ec_kube_response *out) {
    return kube_call("list", resource, namespace_, no_str, no_str, no_str, label_selector,
                     field_selector, false, out);
}

bool ec_kube_create(const char *resource, ec_str namespace_, ec_str object, ec_kube_response *out) {
    if (!is_object_text(object)) return not_an_object("create", "object", out);
    return kube_call("create", resource, namespace_, no_str, no_str, object, no_str, no_str, false,
                     out);
}

bool ec_kube_apply(const char *resource, ec_str namespace_, ec_str object, bool force,
                   ec_kube_response *out) {
    if (!is_object_text(object)) return not_an_object("apply", "object", out);
    return kube_call("apply", resource, namespace_, no_str, no_str, object, no_str, no_str, force,
                     out);
}

bool ec_kube_patch(const char *resource, ec_str namespace_, ec_str name, ec_str merge_patch,
                   ec_kube_response *out) {
    if (!is_object_text(merge_patch)) return not_an_object("patch", "patch", out);
    return kube_call("patch", resource, namespace_, name, merge_patch, no_str, no_str, no_str,
                     false, out);
}

bool ec_kube_delete(const char *resource, ec_str namespace_, ec_str name, ec_kube_response *out) {
    return kube_call("delete", resource, namespace_, name, no_str, no_str, no_str, no_str, false,
                     out);
}

bool ec_kube_ok(const ec_kube_response *r) { return r->status >= 200 && r->status < 300; }

static bool starts_with(ec_str s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.ptr && s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

ec_failure ec_kube_failure(const ec_kube_response *r) {
    static const struct {
        const char *prefix;
        ec_failure failure;
    } prefixes[] = {
        {"denied", EC_FAIL_DENIED},
        {"unknown verb", EC_FAIL_DENIED},
        {"throttled", EC_FAIL_THROTTLED},
        {"malformed request", EC_FAIL_INVALID},
        {"invalid request", EC_FAIL_INVALID},
        {"env var ", EC_FAIL_UNAVAILABLE},
        {"cannot read ", EC_FAIL_UNAVAILABLE},
        {"no Kubernetes connection", EC_FAIL_UNAVAILABLE},
    };
    if (r->status) return ec_kube_ok(r) ? EC_FAIL_NONE : EC_FAIL_STATUS;
    if (!r->host_error) return starts_with(r->error, HELPER_NO_ANSWER) ? EC_FAIL_UNREACHABLE
                                                                       : EC_FAIL_INVALID;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (starts_with(r->error, prefixes[i].prefix)) return prefixes[i].failure;
    return EC_FAIL_UNREACHABLE;
}

bool ec_kube_transient(const ec_kube_response *r) {
    switch (ec_kube_failure(r)) {
    case EC_FAIL_STATUS: return r->status >= 500 || r->status == 408 || r->status == 429;
    case EC_FAIL_THROTTLED: case EC_FAIL_UNREACHABLE: return true;
    default: return false;
    }
}

/* ---- Kubernetes, loop-safe -------------------------------------------------------------------- */

const char *ec_kube_result_name(ec_kube_result r) {
    static const char *const names[] = {"failed",    "refused",   "created", "updated",
                                        "unchanged", "not owned", "deleted", "absent"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "unknown";
}

bool ec_kube_wrote(ec_kube_result r) {
    return r == EC_KUBE_CREATED || r == EC_KUBE_UPDATED || r == EC_KUBE_DELETED;
}

void ec_kube_owner_selector(ec_buf *b, ec_str owner) {
    ec_buf_adds(b, EC_OWNER_LABEL "=");
    ec_buf_addstr(b, owner);
}

bool ec_kube_owns(ec_str object, ec_str owner) {
    static const char *const path[] = {"metadata", "labels", EC_OWNER_LABEL};
    ec_str contents;
    bool escaped;
    return string_token(member_path(object, path, 3), &contents, &escaped) &&
           contents_eq(contents, escaped, owner);
}

bool ec_kube_matches(ec_str current, ec_str desired) {
    static const char *const parts[] = {"labels", "annotations"};
    ec_json_iter it;
    ec_str k, v;
    bool escaped;
    if (!ec_json_iter_init(&it, desired) || it.close_ != '}') return false;
    while (iter_next_raw(&it, &k, &escaped, &v)) {
        if (contents_eq(k, escaped, EC_LIT("apiVersion")) || contents_eq(k, escaped, EC_LIT("kind")) ||
            contents_eq(k, escaped, EC_LIT("status")))
            continue;
        if (contents_eq(k, escaped, EC_LIT("metadata"))) {
            /* Labels and annotations are maps others add to: only the desired ones count. */
            for (size_t i = 0; i < 2; i++) {
                ec_str want, meta, got = no_str;
                if (!find_member(v, ec_cstr(parts[i]), &want) || raw_type(want) == EC_NULL ||
                    (raw_type(want) == EC_OBJECT && is_empty_container(want)))
                    continue;
                if (find_member(current, EC_LIT("metadata"), &meta))
                    find_member(meta, ec_cstr(parts[i]), &got);
                if (!ec_json_contains(got, want)) return false;
            }
            continue;
        }
        ec_str got = no_str;
        find_member_raw(current, k, escaped, &got);
        if (!ec_json_contains(got, v)) return false;
    }
    return !it.err.message;
}

ec_kube_result ec_kube_ensure(const char *resource, ec_str desired, ec_str owner,
                              ec_kube_response *out) {
    static const char *const paths[] = {"metadata.name", "metadata.namespace"};
    ec_kube_response local;
    ec_value v[2];
    ec_kube_result result;
    if (!out) out = &local;
    memset(out, 0, sizeof *out);
    out->verb = "get";
    if (!is_object_text(desired) || !ec_json_find(desired, paths, 2, v, NULL) ||
        v[0].type != EC_STRING || !v[0].text.len) {
        helper_error(out, "malformed request: ensure needs an object with metadata.name", NULL, 0);
        if (out == &local) ec_kube_free(&local);
        return EC_KUBE_FAILED;
    }
    ec_str name = v[0].text, namespace_ = v[1].type == EC_STRING ? v[1].text : no_str;
    /* desired, its metadata.labels carrying the owner label */
    ec_buf label = {0}, object = {0};
    ec_buf_adds(&label, "{\"metadata\":{\"labels\":{\"" EC_OWNER_LABEL "\":");
    ec_buf_addquoted(&label, owner);
    ec_buf_adds(&label, "}}}");
    json_merge(&object, desired, (ec_str){label.ptr, label.len});
    free(label.ptr);
    ec_str owned = {object.ptr, object.len};

    if (!ec_kube_get(resource, namespace_, name, out)) {
        result = EC_KUBE_FAILED;
    } else if (out->status == 404) {
        ec_kube_free(out);
        if (!ec_kube_create(resource, no_str, owned, out))
            result = EC_KUBE_FAILED;
        else
            result = ec_kube_ok(out) ? EC_KUBE_CREATED : EC_KUBE_REFUSED;
    } else if (!ec_kube_ok(out)) {
        result = EC_KUBE_REFUSED;
    } else if (!ec_kube_owns(out->object, owner)) {
        result = EC_KUBE_NOT_OWNED;
    } else if (ec_kube_matches(out->object, owned)) {
        result = EC_KUBE_UNCHANGED;
    } else {
        /* Forced: the object is ours, and the fields to restore are held by create's own field
         * manager entry (an Update, which a plain apply conflicts with) or by whoever edited
         * them. */
        ec_kube_free(out);
        if (!ec_kube_apply(resource, no_str, owned, true, out))
            result = EC_KUBE_FAILED;
        else
            result = ec_kube_ok(out) ? EC_KUBE_UPDATED : EC_KUBE_REFUSED;
    }
    free(object.ptr);
    if (out == &local) ec_kube_free(&local);
    return result;
}

ec_kube_result ec_kube_remove_owned(const char *resource, ec_str namespace_, ec_str name,
                                    ec_str owner, ec_kube_response *out) {
    ec_kube_response local;
    ec_kube_result result;
    if (!out) out = &local;
    if (!ec_kube_get(resource, namespace_, name, out))
        result = EC_KUBE_FAILED;
    else if (out->status == 404)
        result = EC_KUBE_ABSENT;
    else if (!ec_kube_ok(out))
        result = EC_KUBE_REFUSED;
    else if (!ec_kube_owns(out->object, owner))
        result = EC_KUBE_NOT_OWNED;
    else {
        ec_kube_free(out);
        if (!ec_kube_delete(resource, namespace_, name, out))
            result = EC_KUBE_FAILED;
        else if (ec_kube_ok(out))
            result = EC_KUBE_DELETED;
        else
            result = out->status == 404 ? EC_KUBE_ABSENT : EC_KUBE_REFUSED;
    }
    if (out == &local) ec_kube_free(&local);
    return result;
}

/* ---- the host functions, or the native mock --------------------------------------------------- */

#ifdef __wasm__
static int32_t metric_exchange(const char *json, size_t len) {
    return ec_host_metric(json, (int32_t)len);
}

static bool kube_exchange(ec_str request, char **answer, size_t *len) {
    int64_t packed = ec_host_kube_request(request.ptr, (int32_t)request.len);
    uint32_t ptr = (uint32_t)((uint64_t)packed >> 32), n = (uint32_t)packed;
    if (!ptr || !n) return false;
    /* Allocated by the host with our alloc (malloc): ours to free. */
    *answer = (char *)(uintptr_t)ptr;
    *len = n;
    return true;
}
#endif

#ifndef __wasm__
/* ---- the native mock -------------------------------------------------------------------------- */

/* A list of heap copies. */
typedef struct mock_list {
    ec_str *items;
    size_t n, cap;
} mock_list;

static void list_push(mock_list *l, ec_str s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = ec_xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->n++] = ec_str_dup(s.ptr ? s : EC_LIT(""));
}

static void list_clear(mock_list *l) {
    for (size_t i = 0; i < l->n; i++) free((void *)l->items[i].ptr);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static struct {
    mock_list requests, answers, metrics, metric_names, metric_kinds;
    size_t next_answer;
    ec_mock_kube_fn transport;
    void *transport_ctx;
    bool fake, refuse_metrics;
    ec_buf verbs;
} mock;

/* The fake cluster's objects, sorted by resource, namespace and name (heap copies). */
typedef struct fake_object {
    ec_str resource, namespace_, name, json;
} fake_object;

static struct {
    fake_object *objects;
    size_t n, cap;
    uint64_t version;
} fake;

static void fake_free_object(fake_object *o) {
    free((void *)o->resource.ptr);
    free((void *)o->namespace_.ptr);
    free((void *)o->name.ptr);
    free((void *)o->json.ptr);
}

static int str_cmp(ec_str a, ec_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* The index of the object, or where it would go (*found false). */
static size_t fake_find(ec_str resource, ec_str namespace_, ec_str name, bool *found) {
    size_t i = 0;
    *found = false;
    for (; i < fake.n; i++) {
        fake_object *o = &fake.objects[i];
        int c = str_cmp(o->resource, resource);
        if (!c) c = str_cmp(o->namespace_, namespace_);
        if (!c) c = str_cmp(o->name, name);
        if (c == 0) *found = true;
        if (c >= 0) break;
    }
    return i;
}

/* Stores `object` with a new resourceVersion, a uid when it has none and its namespace, as the
 * API server would; returns the stored text. */
static ec_str fake_store(ec_str resource, ec_str namespace_, ec_str name, ec_str object) {
    static const char *const uid_path[] = {"metadata", "uid"};
    ec_buf patch = {0}, merged = {0};
    fake.version++;
    ec_buf_adds(&patch, "{\"metadata\":{\"resourceVersion\":\"");
    ec_buf_addu(&patch, fake.version);
    ec_buf_adds(&patch, "\"");
    if (!member_path(object, uid_path, 2).ptr) {
        ec_buf_adds(&patch, ",\"uid\":\"uid-");
        ec_buf_addu(&patch, fake.version);
        ec_buf_adds(&patch, "\"");
    }
    if (namespace_.len) {
        ec_buf_adds(&patch, ",\"namespace\":");
        ec_buf_addquoted(&patch, namespace_);
    }
    ec_buf_adds(&patch, "}}");
    json_merge(&merged, object, (ec_str){patch.ptr, patch.len});
    free(patch.ptr);

    bool found;
    size_t i = fake_find(resource, namespace_, name, &found);
    if (found) {
        free((void *)fake.objects[i].json.ptr);
    } else {
        if (fake.n == fake.cap) {
            fake.cap = fake.cap ? fake.cap * 2 : 16;
            fake.objects = ec_xrealloc(fake.objects, fake.cap * sizeof *fake.objects);
        }
        memmove(fake.objects + i + 1, fake.objects + i, (fake.n - i) * sizeof *fake.objects);
        fake.n++;
        fake.objects[i] = (fake_object){ec_str_dup(resource.ptr ? resource : EC_LIT("")),
                                        ec_str_dup(namespace_.ptr ? namespace_ : EC_LIT("")),
                                        ec_str_dup(name.ptr ? name : EC_LIT("")), no_str};
    }
    fake.objects[i].json = ec_str_dup((ec_str){merged.ptr ? merged.ptr : "", merged.len});
    free(merged.ptr);
    return fake.objects[i].json;
}

static void fake_remove_at(size_t i) {
    fake_free_object(&fake.objects[i]);
    memmove(fake.objects + i, fake.objects + i + 1, (fake.n - i - 1) * sizeof *fake.objects);
    fake.n--;
}

/* The label `key` of `object`: its raw value, absent when it has none. */
static ec_str fake_label(ec_str object, ec_str key) {
    static const char *const path[] = {"metadata", "labels"};
    ec_str value = no_str;
    find_member(member_path(object, path, 2), key, &value);
    return value;
}

static bool label_is(ec_str object, ec_str key, ec_str want) {
    ec_str contents;
    bool escaped;
    return string_token(fake_label(object, key), &contents, &escaped) &&
           contents_eq(contents, escaped, want);
}

/* An equality-based label selector (k=v, k==v, k!=v, k, !k; terms joined by ',') on object. */
static bool fake_selects(ec_str selector, ec_str object) {
    size_t i = 0;
    while (selector.ptr && i < selector.len) {
        size_t end = i;
        while (end < selector.len && selector.ptr[end] != ',') end++;
        ec_str term = trim((ec_str){selector.ptr + i, end - i});
        i = end + 1;
        if (!term.len) continue;
        const char *eq = memchr(term.ptr, '=', term.len);
        if (eq) {
            bool negated = eq > term.ptr && eq[-1] == '!';
            ec_str key = trim((ec_str){term.ptr, (size_t)(eq - term.ptr) - negated});
            ec_str value = {eq + 1, term.len - (size_t)(eq + 1 - term.ptr)};
            if (!negated && value.len && value.ptr[0] == '=') value.ptr++, value.len--;
            value = trim(value);
            if (label_is(object, key, value) == negated) return false;
        } else if (term.ptr[0] == '!') {
            if (fake_label(object, trim((ec_str){term.ptr + 1, term.len - 1})).ptr) return false;
        } else if (!fake_label(object, term).ptr) {
            return false;
        }
    }
    return true;
}

static void not_found(ec_buf *answer, ec_str resource, ec_str name) {
    ec_buf b = {0};
    ec_buf_addstr(&b, resource);
    ec_buf_adds(&b, " \"");
    ec_buf_addstr(&b, name);
    ec_buf_adds(&b, "\" not found");
    ec_mock_kube_refuse(answer, 404, (ec_str){b.ptr, b.len});
    free(b.ptr);
}

/* The fake cluster's answer to `request`. */
static void fake_answer(ec_str request, ec_buf *answer) {
    static const char *const paths[] = {"verb",   "resource", "namespace",     "name",
                                        "object", "patch",    "label_selector"};
    static const char *const meta_paths[] = {"metadata.namespace", "metadata.name"};
    ec_value v[7], m[2];
    ec_error err = {NULL, 0};
    if (!ec_json_find(request, paths, 7, v, &err)) {
        ec_mock_kube_fail(answer, EC_LIT("malformed request: the request is not JSON"));
        return;
    }
    ec_str s[7];
    for (size_t i = 0; i < 7; i++)
        s[i] = v[i].type == EC_STRING || v[i].type == EC_OBJECT ? v[i].text : no_str;
    ec_str verb = s[0], resource = s[1], namespace_ = s[2], name = s[3], object = s[4];
    bool listed_namespace = namespace_.ptr != NULL;
    if (object.ptr && ec_json_find(object, meta_paths, 2, m, NULL)) {
        if (!namespace_.ptr && m[0].type == EC_STRING) namespace_ = m[0].text;
        if (!name.ptr && m[1].type == EC_STRING) name = m[1].text;
    }
    if (!namespace_.ptr) namespace_ = EC_LIT("");
    if (!name.ptr) name = EC_LIT("");
    if (!resource.ptr) resource = EC_LIT("");
    bool found;
    size_t i = fake_find(resource, namespace_, name, &found);
    ec_str current = found ? fake.objects[i].json : no_str;

    if (ec_str_eqs(verb, "get")) {
        if (found) ec_mock_kube_respond(answer, 200, current);
        else not_found(answer, resource, name);
    } else if (ec_str_eqs(verb, "list")) {
        ec_buf_adds(answer, "{\"status\":200,\"items\":[");
        bool first = true;
        for (size_t j = 0; j < fake.n; j++) {
            fake_object *o = &fake.objects[j];
            if (!ec_str_eq(o->resource, resource) ||
                (listed_namespace && !ec_str_eq(o->namespace_, s[2])) ||
                !fake_selects(s[6], o->json))
                continue;
            if (!first) ec_buf_add(answer, ",", 1);
            first = false;
            ec_buf_addstr(answer, o->json);
        }
        ec_buf_adds(answer, "]}");
    } else if (ec_str_eqs(verb, "create") || ec_str_eqs(verb, "apply")) {
        if (!object.ptr) {
            ec_mock_kube_fail(answer, EC_LIT("malformed request: no object"));
        } else if (found && ec_str_eqs(verb, "create")) {
            ec_buf b = {0};
            ec_buf_addstr(&b, resource);
            ec_buf_adds(&b, " \"");
            ec_buf_addstr(&b, name);
            ec_buf_adds(&b, "\" already exists");
            ec_mock_kube_refuse(answer, 409, (ec_str){b.ptr, b.len});
            free(b.ptr);
        } else if (found) {
            ec_buf merged = {0};
            json_merge(&merged, current, object);
            ec_mock_kube_respond(answer, 200,
                                 fake_store(resource, namespace_, name, (ec_str){merged.ptr, merged.len}));
            free(merged.ptr);
        } else {
            ec_mock_kube_respond(answer, 201, fake_store(resource, namespace_, name, object));
        }
    } else if (ec_str_eqs(verb, "patch")) {
        if (!found) {
            not_found(answer, resource, name);
        } else if (!s[5].ptr) {
            ec_mock_kube_fail(answer, EC_LIT("malformed request: no patch"));
        } else {
            ec_buf merged = {0};
            json_merge(&merged, current, s[5]);
            ec_mock_kube_respond(answer, 200,
                                 fake_store(resource, namespace_, name, (ec_str){merged.ptr, merged.len}));
            free(merged.ptr);
        }
    } else if (ec_str_eqs(verb, "delete")) {
        if (!found) {
            not_found(answer, resource, name);
        } else {
            ec_mock_kube_respond(answer, 200, current);
            fake_remove_at(i);
        }
    } else {
        ec_buf b = {0};
        ec_buf_adds(&b, "unknown verb ");
        ec_buf_addquoted(&b, verb);
        ec_mock_kube_fail(answer, (ec_str){b.ptr, b.len});
        free(b.ptr);
    }
}

static bool kube_exchange(ec_str request, char **answer, size_t *len) {
    ec_buf a = {0};
    list_push(&mock.requests, request);
    if (mock.next_answer < mock.answers.n) ec_buf_addstr(&a, mock.answers.items[mock.next_answer++]);
    if (!a.len && mock.transport) mock.transport(mock.transport_ctx, request, &a);
    if (!a.len && mock.fake) fake_answer(request, &a);
    if (!a.len)
        ec_mock_kube_fail(&a, EC_LIT("no Kubernetes connection outside the host: queue answers "
                                     "with ec_mock_kube_answer, set a transport with "
                                     "ec_mock_kube_transport or enable ec_mock_kube_fake"));
    *answer = a.ptr;
    *len = a.len;
    return true;
}

void ec_mock_kube_answer(ec_str answer_json) { list_push(&mock.answers, answer_json); }

void ec_mock_kube_transport(ec_mock_kube_fn fn, void *ctx) {
    mock.transport = fn;
    mock.transport_ctx = ctx;
}

void ec_mock_kube_fake(bool enabled) { mock.fake = enabled; }

size_t ec_mock_kube_count(void) { return mock.requests.n; }

ec_str ec_mock_kube_request(size_t i) { return i < mock.requests.n ? mock.requests.items[i] : no_str; }

const char *ec_mock_kube_verbs(void) {
    static const char *const path[] = {"verb"};
    mock.verbs.len = 0;
    for (size_t i = 0; i < mock.requests.n; i++) {
        ec_value verb;
        if (!ec_json_find(mock.requests.items[i], path, 1, &verb, NULL)) verb.text = EC_LIT("?");
        if (i) ec_buf_add(&mock.verbs, " ", 1);
        ec_buf_addstr(&mock.verbs, verb.text);
    }
    ec_buf_add(&mock.verbs, "", 1); /* NUL */
    return mock.verbs.ptr;
}

void ec_mock_kube_clear_requests(void) { list_clear(&mock.requests); }

void ec_mock_kube_respond(ec_buf *answer, int status, ec_str object) {
    ec_buf_adds(answer, "{\"status\":");
    ec_buf_addu(answer, (uint64_t)(status > 0 ? status : 0));
    if (object.ptr) {
        ec_buf_adds(answer, ",\"object\":");
        ec_buf_addstr(answer, object);
    }
    ec_buf_adds(answer, "}");
}

void ec_mock_kube_respond_list(ec_buf *answer, const ec_str *items, size_t n) {
    ec_buf_adds(answer, "{\"status\":200,\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) ec_buf_add(answer, ",", 1);
        ec_buf_addstr(answer, items[i]);
    }
    ec_buf_adds(answer, "]}");
}

void ec_mock_kube_refuse(ec_buf *answer, int status, ec_str message) {
    ec_buf_adds(answer, "{\"status\":");
    ec_buf_addu(answer, (uint64_t)(status > 0 ? status : 0));
    ec_buf_adds(answer, ",\"message\":");
    ec_buf_addquoted(answer, message);
    ec_buf_adds(answer, "}");
}

void ec_mock_kube_fail(ec_buf *answer, ec_str reason) {
    ec_buf_adds(answer, "{\"error\":");
    ec_buf_addquoted(answer, reason);
    ec_buf_adds(answer, "}");
}

void ec_fake_put(const char *resource, ec_str object) {
    static const char *const paths[] = {"metadata.namespace", "metadata.name"};
    ec_value m[2];
    if (!is_object_text(object) || !ec_json_find(object, paths, 2, m, NULL)) {
        fprintf(stderr, "ec_fake_put: not a JSON object: %.*s\n", (int)object.len,
                object.ptr ? object.ptr : "");
        return;
    }
    fake_store(ec_cstr(resource ? resource : ""),
               m[0].type == EC_STRING ? m[0].text : EC_LIT(""),
               m[1].type == EC_STRING ? m[1].text : EC_LIT(""), object);
}

ec_str ec_fake_object(const char *resource, ec_str namespace_, ec_str name) {
    bool found;
    size_t i = fake_find(ec_cstr(resource ? resource : ""), namespace_.ptr ? namespace_ : EC_LIT(""),
                         name.ptr ? name : EC_LIT(""), &found);
    return found ? fake.objects[i].json : no_str;
}

bool ec_fake_remove(const char *resource, ec_str namespace_, ec_str name) {
    bool found;
    size_t i = fake_find(ec_cstr(resource ? resource : ""), namespace_.ptr ? namespace_ : EC_LIT(""),
                         name.ptr ? name : EC_LIT(""), &found);
    if (found) fake_remove_at(i);
    return found;
}

/* Why the host would refuse the update `json` (docs/ABI.md §6, metric), or NULL. */
static const char *metric_refusal(ec_str json) {
    static const char *const paths[] = {"name", "kind", "labels", "value", "buckets"};
    static const char *const suffixes[] = {"_total", "_bucket", "_count", "_sum", "_created", "_info"};
    ec_value v[5];
    if (!ec_json_find(json, paths, 5, v, NULL)) return "malformed metric update";
    ec_str name = v[0].text, kind = v[1].text;
    if (v[0].type != EC_STRING || !name.len || name.len > 64 || name.ptr[0] < 'a' || name.ptr[0] > 'z')
        return "a name is [a-z][a-z0-9_]*, at most 64 characters";
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "a name is [a-z][a-z0-9_]*, at most 64 characters";
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(suffixes[i]);
        if (name.len >= n && memcmp(name.ptr + name.len - n, suffixes[i], n) == 0)
            return "a name may not end with _total, _bucket, _count, _sum, _created or _info";
    }
    bool histogram = ec_str_eqs(kind, "histogram");
    if (v[1].type != EC_STRING || !(histogram || ec_str_eqs(kind, "counter") || ec_str_eqs(kind, "gauge")))
        return "the kind is counter, gauge or histogram";
    if (v[2].type == EC_OBJECT) {
        ec_json_iter it;
        ec_str key;
        ec_value value;
        size_t n = 0;
        ec_json_iter_init(&it, v[2].text);
        while (ec_json_next(&it, &key, &value)) {
            bool ok = ++n <= 10 && key.len && key.len <= 64 && key.ptr[0] >= 'a' && key.ptr[0] <= 'z' &&
                      !ec_str_eqs(key, "plugin") && !ec_str_eqs(key, "le");
            for (size_t i = 0; ok && i < key.len; i++) {
                char c = key.ptr[i];
                ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
            }
            if (n > 10) return "more than 10 labels";
            if (!ok) return "a label is [a-z][a-z0-9_]*, not `plugin` or `le`";
            if (value.type != EC_STRING) return "a label value is a string";
            if (value.text.len > 256) return "a label value has at most 256 bytes";
        }
        if (it.err.message) return "malformed labels";
    } else if (v[2].type != EC_ABSENT) {
        return "labels are an object";
    }
    if (v[3].type != EC_NUMBER) return "the value is not a number";
    if (ec_str_eqs(kind, "counter") && v[3].text.ptr[0] == '-')
        return "a counter only goes up: the value must be 0 or more";
    if (v[4].type != EC_ABSENT) {
        ec_json_iter it;
        ec_value bound;
        size_t n = 0;
        double last = 0;
        if (!histogram || v[4].type != EC_ARRAY) return "buckets are 1 to 32 ascending bounds, for a histogram";
        ec_json_iter_init(&it, v[4].text);
        while (ec_json_next(&it, NULL, &bound)) {
            char number[64];
            if (bound.type != EC_NUMBER || bound.text.len >= sizeof number)
                return "buckets are 1 to 32 ascending bounds, for a histogram";
            memcpy(number, bound.text.ptr, bound.text.len);
            number[bound.text.len] = '\0';
            double x = strtod(number, NULL);
            if (++n > 32 || (n > 1 && !(x > last))) return "buckets are 1 to 32 ascending bounds, for a histogram";
            last = x;
        }
        if (!n) return "buckets are 1 to 32 ascending bounds, for a histogram";
    }
    for (size_t i = 0; i < mock.metric_names.n; i++)
        if (ec_str_eq(mock.metric_names.items[i], name))
            return ec_str_eq(mock.metric_kinds.items[i], kind) ? NULL : "declared before as another kind";
    list_push(&mock.metric_names, name);
    list_push(&mock.metric_kinds, kind);
    return NULL;
}

static int32_t metric_exchange(const char *json, size_t len) {
    ec_str update = {json, len};
    list_push(&mock.metrics, update);
    if (mock.refuse_metrics) return 1;
    const char *why = metric_refusal(update);
    if (!why) return 0;
    fprintf(stderr, "metric refused (%s): %.*s\n", why, (int)len, json);
    return 1;
}

size_t ec_mock_metric_count(void) { return mock.metrics.n; }

ec_str ec_mock_metric(size_t i) { return i < mock.metrics.n ? mock.metrics.items[i] : no_str; }

void ec_mock_metric_refuse(bool refuse) { mock.refuse_metrics = refuse; }

void ec_mock_reset(void) {
    list_clear(&mock.requests);
    list_clear(&mock.answers);
    list_clear(&mock.metrics);
    list_clear(&mock.metric_names);
    list_clear(&mock.metric_kinds);
    free(mock.verbs.ptr);
    memset(&mock, 0, sizeof mock);
    for (size_t i = 0; i < fake.n; i++) fake_free_object(&fake.objects[i]);
    free(fake.objects);
    memset(&fake, 0, sizeof fake);
}
#endif

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
