/*
 * Native unit tests of the C guest helper: bash guest-sdk/c/test/run.sh
 *
 * Includes ec_guest.c itself to reach its static functions. The exports' pointer packing is
 * wasm32-only and is exercised through the real host instead (docs/ABI.md §10, C).
 */
#include "../ec_guest.c"

#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (cond) {                                                                              \
            passed++;                                                                            \
        } else {                                                                                 \
            failed++;                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                        \
    } while (0)

/* The helper requires the plugin's handler; these tests do not call it. */
ec_level ec_plugin_handle_event(ec_str event, ec_buf *out) {
    (void)event;
    (void)out;
    return EC_NONE;
}

static ec_str S(const char *s) { return (ec_str){s, strlen(s)}; }

static bool find1(const char *json, const char *path, ec_value *v) {
    return ec_json_find(S(json), &path, 1, v, NULL);
}

static void test_head(void) {
    ec_head h;
    CHECK(ec_event_head(S("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                          "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\"},\"spec\":{}}}"),
                        &h, NULL));
    CHECK(ec_str_eqs(h.type, "ADDED") && ec_str_eqs(h.kind, "Pod") && ec_str_eqs(h.name, "web-1"));
    CHECK(ec_str_eqs(h.namespace_, "shop") && ec_str_eqs(h.api_version, "v1"));

    /* Nested members of the same name, unusual order, type last. */
    CHECK(ec_event_head(
        S("{\"object\":{\"metadata\":{\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs\"}],"
          "\"labels\":{\"kind\":\"k\",\"name\":\"n\"},\"annotations\":{\"metadata\":\"{\\\"name\\\":\\\"fake\\\"}\"},"
          "\"name\":\"ordered\"},\"spec\":{\"template\":{\"kind\":\"Inner\",\"metadata\":{\"name\":\"inner\"}}},"
          "\"kind\":\"Pod\"},\"type\":\"MODIFIED\"}"),
        &h, NULL));
    CHECK(ec_str_eqs(h.kind, "Pod") && ec_str_eqs(h.name, "ordered") && ec_str_eqs(h.type, "MODIFIED"));
    CHECK(h.namespace_.ptr == NULL);

    /* Whitespace between tokens; escaped kind. */
    CHECK(ec_event_head(S(" { \"type\" : \"ADDED\" , \"object\" : { \"kind\" : \"Po\\u0064\" , "
                          "\"metadata\" : { \"name\" : \"spaced\" } } } \n"),
                        &h, NULL));
    CHECK(ec_str_eqs(h.kind, "Pod") && ec_str_eqs(h.name, "spaced"));

    /* Non-string members are absent; so is everything under a non-object "object". */
    CHECK(ec_event_head(S("{\"object\":{\"kind\":5,\"metadata\":{\"name\":null}}}"), &h, NULL));
    CHECK(h.kind.ptr == NULL && h.name.ptr == NULL);
    CHECK(ec_event_head(S("{\"type\":\"ADDED\",\"object\":[1,{\"kind\":\"Pod\"}]}"), &h, NULL));
    CHECK(h.kind.ptr == NULL && ec_str_eqs(h.type, "ADDED"));
    scratch_free_all();
}

static void test_decode(void) {
    ec_value v;
    /* \" \\ \/ \t, a BMP escape and a surrogate pair. */
    CHECK(find1("{\"a\":\"caf\\u00e9-\\ud83d\\ude80 \\\"q\\\" b\\\\s\\/t\\t\"}", "a", &v));
    CHECK(v.type == EC_STRING && ec_str_eqs(v.text, "caf\xC3\xA9-\xF0\x9F\x9A\x80 \"q\" b\\s/t\t"));
    /* Raw UTF-8 is kept as is, and borrowed from the input. */
    const char *raw = "{\"a\":\"\xE2\x98\x95\"}";
    CHECK(find1(raw, "a", &v) && v.text.ptr == raw + 6 && v.text.len == 3);
    /* Lone surrogates become U+FFFD. */
    CHECK(find1("{\"a\":\"x\\ud83dy\\ude80\"}", "a", &v));
    CHECK(ec_str_eqs(v.text, "x\xEF\xBF\xBDy\xEF\xBF\xBD"));
    /* A high surrogate followed by a non-low escape. */
    CHECK(find1("{\"a\":\"\\ud83d\\u0041\"}", "a", &v) && ec_str_eqs(v.text, "\xEF\xBF\xBD" "A"));
    /* Escaped member names are compared decoded. */
    CHECK(find1("{\"ki\\u006ed\":\"Pod\"}", "kind", &v) && ec_str_eqs(v.text, "Pod"));
    scratch_free_all();
}

static void test_find(void) {
    static const char *const paths[] = {"a.b", "a.c", "n", "t", "arr", "obj", "obj.x", "missing.z"};
    ec_value v[8];
    ec_error err;
    CHECK(ec_json_find(S("{\"a\":{\"c\":\"C\",\"b\":\"B\"},\"n\":-1.5e3,\"t\":true,\"arr\":[1,\"]\",{}],"
                         "\"obj\":{\"x\":{\"y\":1}},\"missing\":3}"),
                       paths, 8, v, &err));
    CHECK(v[0].type == EC_STRING && ec_str_eqs(v[0].text, "B"));
    CHECK(v[1].type == EC_STRING && ec_str_eqs(v[1].text, "C"));
    CHECK(v[2].type == EC_NUMBER && ec_str_eqs(v[2].text, "-1.5e3"));
    CHECK(v[3].type == EC_BOOL && ec_str_eqs(v[3].text, "true"));
    CHECK(v[4].type == EC_ARRAY && ec_str_eqs(v[4].text, "[1,\"]\",{}]"));
    CHECK(v[5].type == EC_OBJECT && ec_str_eqs(v[5].text, "{\"x\":{\"y\":1}}"));
    CHECK(v[6].type == EC_OBJECT && ec_str_eqs(v[6].text, "{\"y\":1}"));
    CHECK(v[7].type == EC_ABSENT);

    /* The first occurrence wins. */
    ec_value one;
    CHECK(find1("{\"a\":\"1\",\"a\":\"2\"}", "a", &one) && ec_str_eqs(one.text, "1"));

    /* Reading stops once everything is found: garbage after that is not read... */
    CHECK(find1("{\"a\":\"1\",\"b\":[}", "a", &one) && ec_str_eqs(one.text, "1"));
    /* ...but a document cut off in transit is still caught. */
    CHECK(!find1("{\"a\":\"1\",\"b\":[1,2", "a", &one));

    /* Malformed JSON in the part read. */
    CHECK(!ec_json_find(S("[1]"), paths, 1, v, &err) && strstr(err.message, "not an object"));
    CHECK(!ec_json_find(S("{\"a\" 1}"), paths, 1, v, &err) && err.offset == 5);
    CHECK(!ec_json_find(S("{\"q\":\"x"), paths, 1, v, &err) && strstr(err.message, "truncated"));
    CHECK(!ec_json_find(S("{\"q\":\"\\x\"}"), paths, 1, v, &err) && strstr(err.message, "escape"));
    CHECK(!ec_json_find(S("{\"q\":\"\\u12g4\"}"), paths, 1, v, &err));
    CHECK(!ec_json_find(S("{\"q\":\"a\nb\"}"), paths, 1, v, &err) && strstr(err.message, "control"));
    CHECK(!ec_json_find(S("{\"q\":1} x"), paths, 1, v, &err) && strstr(err.message, "after"));
    CHECK(!ec_json_find(S(""), paths, 1, v, &err));
    CHECK(!ec_json_find((ec_str){NULL, 0}, paths, 1, v, &err));
    CHECK(ec_json_find(S("{}"), paths, 1, v, &err) && v[0].type == EC_ABSENT);
    scratch_free_all();
}

/* Checks that the result is {"level":"L","message":"..."} and returns the message part. */
static ec_str result_message(ec_buf *b, const char *level) {
    char head[64];
    snprintf(head, sizeof head, "{\"level\":\"%s\",\"message\":\"", level);
    size_t h = strlen(head);
    if (b->len < h + 2 || memcmp(b->ptr, head, h) != 0 || memcmp(b->ptr + b->len - 2, "\"}", 2) != 0)
        return (ec_str){NULL, 0};
    return (ec_str){b->ptr + h, b->len - h - 2};
}

static void test_results(void) {
    ec_buf b = encode_result(EC_INFO, "Kind: Pod; Name: web-1", 22);
    CHECK(b.len == 51 && memcmp(b.ptr, "{\"level\":\"INFO\",\"message\":\"Kind: Pod; Name: web-1\"}", 51) == 0);
    free(b.ptr);

    const char msg[] = "q\" b\\ \n\r\t\b\f \x01\x1f \x7f caf\xC3\xA9 /";
    b = encode_result(EC_WARN, msg, sizeof msg - 1);
    CHECK(ec_str_eqs(result_message(&b, "WARN"),
                     "q\\\" b\\\\ \\n\\r\\t\\b\\f \\u0001\\u001f \x7f caf\xC3\xA9 /"));
    free(b.ptr);

    /* A message too long for the 1 MiB result is cut at a character boundary and marked. */
    size_t n = EC_MAX_RESULT_LEN;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i += 2) memcpy(big + i, "\xC3\xA9", 2); /* é */
    b = encode_result(EC_ERROR, big, n);
    ec_str m = result_message(&b, "ERROR");
    CHECK(m.ptr != NULL && b.len <= EC_MAX_RESULT_LEN);
    static const char mark[] = "\xE2\x80\xA6 [truncated]";
    CHECK(m.len > sizeof mark && memcmp(m.ptr + m.len - (sizeof mark - 1), mark, sizeof mark - 1) == 0);
    CHECK((m.len - (sizeof mark - 1)) % 2 == 0); /* whole characters only */
    free(b.ptr);
    /* Quotes count escaped. */
    memset(big, '"', n);
    b = encode_result(EC_ERROR, big, n);
    CHECK(b.len <= EC_MAX_RESULT_LEN && result_message(&b, "ERROR").ptr != NULL);
    free(b.ptr);
    free(big);
}

static void test_buf_and_strings(void) {
    ec_buf b = {0};
    for (int i = 0; i < 1000; i++) ec_buf_adds(&b, "ab");
    CHECK(b.len == 2000 && b.cap >= 2000);
    b.len = 0;
    ec_buf_addu(&b, 0);
    ec_buf_adds(&b, " ");
    ec_buf_addu(&b, 18446744073709551615u);
    ec_buf_addstr(&b, (ec_str){NULL, 0});
    CHECK(b.len == 22 && memcmp(b.ptr, "0 18446744073709551615", 22) == 0);
    free(b.ptr);

    CHECK(ec_str_eq((ec_str){NULL, 0}, (ec_str){NULL, 0}));
    CHECK(!ec_str_eq((ec_str){NULL, 0}, EC_LIT("")));
    CHECK(!ec_str_eqs((ec_str){NULL, 0}, ""));
    ec_str d = ec_str_dup(EC_LIT("abc"));
    CHECK(ec_str_eqs(d, "abc") && d.ptr[3] == '\0');
    free((void *)d.ptr);
}

static void test_init_keeps_config(void) {
    const char json[] = "{\"prefix\":\"p\"}";
    CHECK(ec_config().ptr == NULL);
    CHECK(ec_export_init(json, (int32_t)(sizeof json - 1)) == 0); /* the weak default accepts */
    CHECK(ec_str_eqs(ec_config(), json) && ec_config().ptr != json);
}

int main(void) {
    test_head();
    test_decode();
    test_find();
    test_results();
    test_buf_and_strings();
    test_init_keeps_config();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
