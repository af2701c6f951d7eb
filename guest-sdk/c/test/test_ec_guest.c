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

/* ---- JSON containers, comparison, merging ---- */

static bool buf_is(ec_buf *b, const char *want) {
    bool same = b->len == strlen(want) && memcmp(b->ptr, want, b->len) == 0;
    if (!same) fprintf(stderr, "  got:  %.*s\n  want: %s\n", (int)b->len, b->ptr ? b->ptr : "", want);
    free(b->ptr);
    *b = (ec_buf){0};
    return same;
}

static void test_iterate(void) {
    ec_json_iter it;
    ec_str key;
    ec_value v;
    CHECK(ec_json_iter_init(&it, S(" {\"a\":1, \"b\\u0062\" : \"x\\ny\", \"c\":{\"d\":[1,2]},\"e\":null} ")));
    CHECK(ec_json_next(&it, &key, &v) && ec_str_eqs(key, "a") && v.type == EC_NUMBER && ec_str_eqs(v.text, "1"));
    CHECK(ec_json_next(&it, &key, &v) && ec_str_eqs(key, "bb") && v.type == EC_STRING && ec_str_eqs(v.text, "x\ny"));
    CHECK(ec_json_next(&it, &key, &v) && v.type == EC_OBJECT && ec_str_eqs(v.text, "{\"d\":[1,2]}"));
    CHECK(ec_json_next(&it, &key, &v) && ec_str_eqs(key, "e") && v.type == EC_NULL);
    CHECK(!ec_json_next(&it, &key, &v) && it.err.message == NULL);
    CHECK(!ec_json_next(&it, &key, &v)); /* stays at the end */

    CHECK(ec_json_iter_init(&it, S("[{\"k\":1}, \"s\", [], true]")));
    size_t n = 0;
    while (ec_json_next(&it, &key, &v)) {
        CHECK(key.ptr == NULL);
        n++;
    }
    CHECK(n == 4 && it.err.message == NULL);
    CHECK(ec_json_iter_init(&it, S("[]")) && !ec_json_next(&it, NULL, NULL) && !it.err.message);
    CHECK(ec_json_iter_init(&it, S("{}")) && !ec_json_next(&it, NULL, NULL) && !it.err.message);

    /* Malformed containers stop with an error. */
    const char *bad[] = {"[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{1:2}", "[1", "{\"a\":"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(ec_json_iter_init(&it, S(bad[i])));
        while (ec_json_next(&it, NULL, NULL)) {
        }
        CHECK(it.err.message != NULL);
    }
    CHECK(!ec_json_iter_init(&it, S("\"str\"")) && it.err.message);
    CHECK(!ec_json_iter_init(&it, (ec_str){NULL, 0}));

    /* Members by literal name: label names contain dots. */
    const char *object = "{\"metadata\":{\"labels\":{\"app.kubernetes.io/managed-by\":\"me\"}}}";
    ec_value labels = ec_json_member(ec_json_member(S(object), EC_LIT("metadata")).text, EC_LIT("labels"));
    ec_value owner = ec_json_member(labels.text, EC_LIT(EC_OWNER_LABEL));
    CHECK(owner.type == EC_STRING && ec_str_eqs(owner.text, "me"));
    CHECK(ec_json_member(labels.text, EC_LIT("other")).type == EC_ABSENT);
    CHECK(ec_json_member(S("[1]"), EC_LIT("a")).type == EC_ABSENT);
    CHECK(ec_json_member(S("{\"\\u0061\":\"A\"}"), EC_LIT("a")).type == EC_STRING);
    scratch_free_all();
}

static void test_contains(void) {
    const char *current = "{\"a\":{\"b\":1,\"c\":[{\"port\":80,\"protocol\":\"TCP\"}]},\"d\":2,\"e\":{},\"s\":\"caf\\u00e9\"}";
    CHECK(ec_json_contains(S(current), S("{\"a\":{\"c\":[{\"port\":80}]}}")));
    CHECK(ec_json_contains(S(current), S("{\"e\":{}}")));
    CHECK(!ec_json_contains(S(current), S("{\"a\":{}}"))); /* {} means empty */
    CHECK(ec_json_contains(S(current), S("{\"f\":null}")));
    CHECK(ec_json_contains((ec_str){NULL, 0}, S("null")) && ec_json_contains(S("null"), S(" null ")));
    CHECK(!ec_json_contains((ec_str){NULL, 0}, S("{}")) && !ec_json_contains(S("null"), S("0")));
    CHECK(ec_kube_matches(S("{\"spec\":{}}"), S("{\"data\":null,\"spec\":{}}"))); /* a null field: absent */
    CHECK(!ec_kube_matches(S("{\"data\":{}}"), S("{\"data\":null}")));
    CHECK(!ec_json_contains(S(current), S("{\"d\":null}")));
    CHECK(!ec_json_contains(S(current), S("{\"a\":{\"c\":[]}}")));
    CHECK(!ec_json_contains(S(current), S("{\"a\":{\"b\":2}}")));
    CHECK(!ec_json_contains(S(current), S("{\"g\":{}}")));
    CHECK(ec_json_contains(S(current), S(" { \"s\" : \"caf\xC3\xA9\" } "))); /* strings decoded */
    CHECK(!ec_json_contains(S(current), S("{\"d\":2.0}")));                  /* numbers as written */
    CHECK(!ec_json_contains(S(current), S("{\"d\":\"2\"}")));
    CHECK(ec_json_contains(S("[1,[2]]"), S("[1,[2]]")) && !ec_json_contains(S("[1,2]"), S("[1]")));
    CHECK(!ec_json_contains(S("{\"a\":1}"), S("{\"a\":")));

    const char *object = "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"annotations\":{\"x\":\"y\"}},"
                         "\"spec\":{\"p\":1},\"status\":{\"q\":2}}";
    CHECK(ec_kube_matches(S(object), S("{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\","
                                       "\"labels\":{\"a\":\"1\"},\"annotations\":{}},\"spec\":{\"p\":1},\"status\":{\"q\":9}}")));
    CHECK(!ec_kube_matches(S(object), S("{\"spec\":{\"p\":2}}")));
    CHECK(!ec_kube_matches(S(object), S("{\"metadata\":{\"labels\":{\"b\":\"3\"}}}")));
    CHECK(!ec_kube_matches(S(object), S("{\"metadata\":{\"annotations\":{\"z\":\"1\"}}}")));
    CHECK(!ec_kube_matches(S(object), S("{\"data\":{\"k\":\"v\"}}")));
    CHECK(ec_kube_owns(S("{\"metadata\":{\"labels\":{\"app.kubernetes.io/managed-by\":\"m\\u0065\"}}}"), EC_LIT("me")));
    CHECK(!ec_kube_owns(S(object), EC_LIT("me")));
    CHECK(!ec_kube_owns(S("{\"metadata\":{\"labels\":{\"app.kubernetes.io/managed-by\":\"you\"}}}"), EC_LIT("me")));

    ec_buf b = {0};
    ec_kube_owner_selector(&b, EC_LIT("ns-defaults"));
    CHECK(buf_is(&b, "app.kubernetes.io/managed-by=ns-defaults"));
    scratch_free_all();
}

static void test_merge(void) {
    ec_buf b = {0};
    json_merge(&b, S("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1]}"), S("{\"b\":{\"c\":null,\"x\":{\"y\":null,\"z\":1}},\"a\":\"A\",\"n\":null,\"e\":[2]}"));
    CHECK(buf_is(&b, "{\"a\":\"A\",\"b\":{\"d\":3,\"x\":{\"z\":1}},\"e\":[2]}"));
    json_merge(&b, S("{\"a\":1}"), S("[1]"));
    CHECK(buf_is(&b, "[1]"));
    json_merge(&b, (ec_str){NULL, 0}, S(" {\"a\":{\"b\":null}} "));
    CHECK(buf_is(&b, "{\"a\":{}}"));
    json_merge(&b, S("\"s\""), S("{\"k\\\"q\":1}"));
    CHECK(buf_is(&b, "{\"k\\\"q\":1}"));
}

static void test_quoted(void) {
    ec_buf b = {0};
    ec_buf_addquoted(&b, S("q\" b\\ \n\t\x01 caf\xC3\xA9 /"));
    CHECK(buf_is(&b, "\"q\\\" b\\\\ \\n\\t\\u0001 caf\xC3\xA9 /\""));
    ec_buf_addquoted(&b, (ec_str){NULL, 0});
    CHECK(buf_is(&b, "\"\""));
    CHECK(ec_cstr(NULL).ptr == NULL && ec_cstr("ab").len == 2);
}

/* ---- Kubernetes ---- */

static bool request_is(size_t i, const char *json) {
    ec_str got = ec_mock_kube_request(i);
    bool same = ec_str_eqs(got, json);
    if (!same) fprintf(stderr, "  request %zu: %.*s\n  want:       %s\n", i, (int)got.len, got.ptr ? got.ptr : "(none)", json);
    return same;
}

static void test_kube_requests(void) {
    ec_mock_reset();
    ec_kube_response r;
    const char *object = "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\"}}";
    /* Every verb, as the Rust SDK orders the members; absent and empty fields are left out. */
    ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r);
    ec_kube_free(&r);
    ec_kube_list("configmaps", EC_LIT("shop"), EC_LIT("owner=me"), EC_LIT("metadata.name=a"), &r);
    ec_kube_free(&r);
    ec_kube_list("namespaces", (ec_str){NULL, 0}, EC_LIT(""), (ec_str){NULL, 0}, &r);
    ec_kube_free(&r);
    ec_kube_create("configmaps", (ec_str){NULL, 0}, S(object), &r);
    ec_kube_free(&r);
    ec_kube_apply("configmaps", EC_LIT("shop"), S(object), true, &r);
    ec_kube_free(&r);
    ec_kube_apply("configmaps", (ec_str){NULL, 0}, S(object), false, &r);
    ec_kube_free(&r);
    ec_kube_patch("nodes", (ec_str){NULL, 0}, EC_LIT("n1"), S(" {\"metadata\":{\"labels\":{\"a\":null}}}\n"), &r);
    ec_kube_free(&r);
    ec_kube_delete("configmaps", EC_LIT("shop"), EC_LIT("a"), &r);
    ec_kube_free(&r);
    CHECK(ec_mock_kube_count() == 8);
    CHECK(request_is(0, "{\"verb\":\"get\",\"resource\":\"configmaps\",\"namespace\":\"shop\",\"name\":\"a\"}"));
    CHECK(request_is(1, "{\"verb\":\"list\",\"resource\":\"configmaps\",\"namespace\":\"shop\","
                        "\"label_selector\":\"owner=me\",\"field_selector\":\"metadata.name=a\"}"));
    CHECK(request_is(2, "{\"verb\":\"list\",\"resource\":\"namespaces\"}"));
    CHECK(request_is(3, "{\"verb\":\"create\",\"resource\":\"configmaps\",\"object\":{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\"}}}"));
    CHECK(request_is(4, "{\"verb\":\"apply\",\"resource\":\"configmaps\",\"namespace\":\"shop\","
                        "\"object\":{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\"}},\"force\":true}"));
    CHECK(request_is(5, "{\"verb\":\"apply\",\"resource\":\"configmaps\",\"object\":{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\"}}}"));
    CHECK(request_is(6, "{\"verb\":\"patch\",\"resource\":\"nodes\",\"name\":\"n1\",\"patch\":{\"metadata\":{\"labels\":{\"a\":null}}}}"));
    CHECK(request_is(7, "{\"verb\":\"delete\",\"resource\":\"configmaps\",\"namespace\":\"shop\",\"name\":\"a\"}"));
    CHECK(strcmp(ec_mock_kube_verbs(), "get list list create apply apply patch delete") == 0);

    /* Odd characters are escaped as JSON strings: quotes, backslashes, control characters;
     * UTF-8 and '/' pass through. */
    ec_mock_kube_clear_requests();
    ec_kube_get("routes.route.openshift.io", S("n\"s\\1"), S("we\"ird\nna\tme\x01\x1f/caf\xC3\xA9"), &r);
    ec_kube_free(&r);
    ec_kube_list("pods", EC_LIT("a b"), S("app in (a,b),x!=\"y\""), S("spec.nodeName=n\\1"), &r);
    ec_kube_free(&r);
    CHECK(request_is(0, "{\"verb\":\"get\",\"resource\":\"routes.route.openshift.io\",\"namespace\":\"n\\\"s\\\\1\","
                        "\"name\":\"we\\\"ird\\nna\\tme\\u0001\\u001f/caf\xC3\xA9\"}"));
    CHECK(request_is(1, "{\"verb\":\"list\",\"resource\":\"pods\",\"namespace\":\"a b\","
                        "\"label_selector\":\"app in (a,b),x!=\\\"y\\\"\",\"field_selector\":\"spec.nodeName=n\\\\1\"}"));

    /* An object or patch that is not a JSON object is refused before sending. */
    ec_mock_kube_clear_requests();
    CHECK(!ec_kube_create("configmaps", (ec_str){NULL, 0}, S("{\"a\":1"), &r));
    CHECK(r.status == 0 && !r.host_error && ec_kube_failure(&r) == EC_FAIL_INVALID && !ec_kube_transient(&r));
    CHECK(ec_str_eqs(r.error, "malformed request: the object is not a JSON object") && strcmp(r.verb, "create") == 0);
    ec_kube_free(&r);
    CHECK(!ec_kube_apply("configmaps", (ec_str){NULL, 0}, S("[1]"), false, &r));
    ec_kube_free(&r);
    CHECK(!ec_kube_patch("configmaps", (ec_str){NULL, 0}, EC_LIT("a"), (ec_str){NULL, 0}, &r));
    CHECK(ec_str_eqs(r.error, "malformed request: the patch is not a JSON object"));
    ec_kube_free(&r);
    CHECK(!ec_kube_create("configmaps", (ec_str){NULL, 0}, S("{} {}"), &r));
    ec_kube_free(&r);
    CHECK(ec_mock_kube_count() == 0);
    ec_kube_free(&r); /* a freed response may be freed again */
    ec_mock_reset();
}

static void test_kube_answers(void) {
    ec_mock_reset();
    ec_kube_response r;

    /* With nothing installed: the mock's own "no Kubernetes connection". */
    CHECK(!ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r));
    CHECK(r.host_error && starts_with(r.error, "no Kubernetes connection") && ec_kube_failure(&r) == EC_FAIL_UNAVAILABLE);
    ec_kube_free(&r);

    /* An object. */
    ec_mock_kube_answer(S("{\"status\":200,\"object\":{\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}}"));
    CHECK(ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r));
    CHECK(r.status == 200 && ec_kube_ok(&r) && ec_kube_failure(&r) == EC_FAIL_NONE && strcmp(r.verb, "get") == 0);
    CHECK(ec_str_eqs(r.object, "{\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}"));
    CHECK(r.items.ptr == NULL && r.n_items == 0 && r.message.ptr == NULL && r.error.ptr == NULL);
    ec_kube_free(&r);

    /* Items, one by one. */
    ec_mock_kube_answer(S("{\"status\":200,\"items\":[{\"metadata\":{\"name\":\"a\"}}, {\"metadata\":{\"name\":\"b\"}},{}]}"));
    CHECK(ec_kube_list("configmaps", (ec_str){NULL, 0}, (ec_str){NULL, 0}, (ec_str){NULL, 0}, &r));
    CHECK(r.n_items == 3 && r.object.ptr == NULL);
    CHECK(ec_str_eqs(r.items, "[{\"metadata\":{\"name\":\"a\"}}, {\"metadata\":{\"name\":\"b\"}},{}]"));
    CHECK(ec_str_eqs(r.item[0], "{\"metadata\":{\"name\":\"a\"}}") && ec_str_eqs(r.item[1], "{\"metadata\":{\"name\":\"b\"}}"));
    CHECK(ec_str_eqs(r.item[2], "{}"));
    ec_kube_free(&r);
    ec_mock_kube_answer(S("{\"status\":200,\"items\":[]}"));
    CHECK(ec_kube_list("configmaps", (ec_str){NULL, 0}, (ec_str){NULL, 0}, (ec_str){NULL, 0}, &r) && r.n_items == 0 && ec_str_eqs(r.items, "[]"));
    ec_kube_free(&r);

    /* A refusal: the status and the decoded Status message. */
    ec_mock_kube_answer(S("{\"status\":403,\"message\":\"configmaps \\\"a\\\" is forbidden:\\nno\"}"));
    CHECK(ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r));
    CHECK(r.status == 403 && !ec_kube_ok(&r) && ec_kube_failure(&r) == EC_FAIL_STATUS && !ec_kube_transient(&r));
    CHECK(ec_str_eqs(r.message, "configmaps \"a\" is forbidden:\nno") && r.object.ptr == NULL);
    ec_kube_free(&r);
    const int transient[] = {500, 503, 408, 429};
    for (size_t i = 0; i < 4; i++) {
        ec_buf a = {0};
        ec_mock_kube_refuse(&a, transient[i], EC_LIT("later"));
        ec_mock_kube_answer((ec_str){a.ptr, a.len});
        free(a.ptr);
        CHECK(ec_kube_delete("pods", EC_LIT("x"), EC_LIT("p"), &r) && r.status == transient[i] && ec_kube_transient(&r));
        ec_kube_free(&r);
    }

    /* The host's errors, classified by their prefix. */
    static const struct {
        const char *reason;
        ec_failure failure;
        bool transient;
    } reasons[] = {
        {"denied: plugin p may not patch routes.route.openshift.io", EC_FAIL_DENIED, false},
        {"unknown verb \"watch\"", EC_FAIL_DENIED, false},
        {"throttled: plugin p writes more than 10 a second", EC_FAIL_THROTTLED, true},
        {"malformed request: missing field `name`", EC_FAIL_INVALID, false},
        {"invalid request: bad header", EC_FAIL_INVALID, false},
        {"no Kubernetes connection (the controller is not watching a cluster)", EC_FAIL_UNAVAILABLE, false},
        {"timed out after 5s", EC_FAIL_UNREACHABLE, true},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        ec_buf a = {0};
        ec_mock_kube_fail(&a, ec_cstr(reasons[i].reason));
        ec_mock_kube_answer((ec_str){a.ptr, a.len});
        free(a.ptr);
        CHECK(!ec_kube_patch("routes.route.openshift.io", EC_LIT("shop"), EC_LIT("web"), S("{}"), &r));
        CHECK(r.status == 0 && r.host_error && ec_str_eqs(r.error, reasons[i].reason));
        CHECK(ec_kube_failure(&r) == reasons[i].failure && ec_kube_transient(&r) == reasons[i].transient);
        ec_kube_free(&r);
    }

    /* Answers the helper cannot read. */
    const char *bad[] = {"", "not JSON", "[]", "{}", "{\"status\":\"200\"}", "{\"status\":70000}",
                         "{\"status\":0}", "{\"status\":2.5}", "{\"status\":200,\"items\":[1 2]}", "{\"status\":200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ec_mock_kube_answer(S(bad[i][0] ? bad[i] : " "));
        CHECK(!ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r));
        CHECK(r.status == 0 && !r.host_error && starts_with(r.error, "the host's kube_request answer"));
        CHECK(ec_kube_failure(&r) == EC_FAIL_INVALID && r.n_items == 0 && r.item == NULL && r.object.ptr == NULL);
        ec_kube_free(&r);
    }

    /* An escaped error. */
    ec_mock_kube_answer(S("{\"error\":\"denied: \\u00e9\"}"));
    CHECK(!ec_kube_get("configmaps", EC_LIT("shop"), EC_LIT("a"), &r) && ec_str_eqs(r.error, "denied: \xC3\xA9"));
    ec_kube_free(&r);
    scratch_free_all();
    ec_mock_reset();
}

/* A transport that refuses writes with 403 and leaves reads to the fake cluster. */
static void refuse_writes(void *ctx, ec_str request, ec_buf *answer) {
    ec_value verb;
    const char *path = "verb";
    (*(int *)ctx)++;
    if (ec_json_find(request, &path, 1, &verb, NULL) && !ec_str_eqs(verb.text, "get") && !ec_str_eqs(verb.text, "list"))
        ec_mock_kube_refuse(answer, 403, EC_LIT("forbidden"));
}

static const char quota10[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"defaults\","
    "\"annotations\":{\"a\":\"1\"}},\"spec\":{\"hard\":{\"pods\":\"10\"}}}";
static const char quota20[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"defaults\","
    "\"annotations\":{\"a\":\"1\"}},\"spec\":{\"hard\":{\"pods\":\"20\"}}}";

static void test_ensure(void) {
    ec_mock_reset();
    ec_mock_kube_fake(true);
    ec_kube_response r;

    /* Absent: created with the owner label. */
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("me"), &r) == EC_KUBE_CREATED);
    CHECK(r.status == 201 && strcmp(r.verb, "create") == 0 && ec_kube_owns(r.object, EC_LIT("me")));
    ec_kube_free(&r);
    CHECK(strcmp(ec_mock_kube_verbs(), "get create") == 0);
    CHECK(request_is(1, "{\"verb\":\"create\",\"resource\":\"resourcequotas\",\"object\":{\"apiVersion\":\"v1\","
                        "\"kind\":\"ResourceQuota\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"defaults\","
                        "\"annotations\":{\"a\":\"1\"},\"labels\":{\"app.kubernetes.io/managed-by\":\"me\"}},"
                        "\"spec\":{\"hard\":{\"pods\":\"10\"}}}}"));
    ec_str stored = ec_fake_object("resourcequotas", EC_LIT("shop"), EC_LIT("defaults"));
    CHECK(ec_kube_owns(stored, EC_LIT("me")) && ec_kube_matches(stored, S(quota10)));

    /* What the API server adds (status, defaults, other labels) is no difference: no write. */
    ec_fake_put("resourcequotas",
                S("{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"defaults\","
                  "\"annotations\":{\"a\":\"1\",\"other\":\"x\"},\"labels\":{\"app.kubernetes.io/managed-by\":\"me\",\"team\":\"p\"}},"
                  "\"spec\":{\"hard\":{\"pods\":\"10\"},\"scopes\":[\"NotTerminating\"]},\"status\":{\"used\":{\"pods\":\"0\"}}}"));
    ec_mock_kube_clear_requests();
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("me"), &r) == EC_KUBE_UNCHANGED);
    CHECK(r.status == 200 && strcmp(r.verb, "get") == 0 && !ec_kube_wrote(EC_KUBE_UNCHANGED));
    ec_kube_free(&r);
    CHECK(strcmp(ec_mock_kube_verbs(), "get") == 0);

    /* A difference: applied with force and the owner label. */
    CHECK(ec_kube_ensure("resourcequotas", S(quota20), EC_LIT("me"), NULL) == EC_KUBE_UPDATED);
    CHECK(strcmp(ec_mock_kube_verbs(), "get get apply") == 0);
    ec_str apply = ec_mock_kube_request(2);
    ec_value force = ec_json_member(apply, EC_LIT("force"));
    CHECK(force.type == EC_BOOL && ec_str_eqs(force.text, "true"));
    CHECK(ec_kube_owns(ec_json_member(apply, EC_LIT("object")).text, EC_LIT("me")));
    stored = ec_fake_object("resourcequotas", EC_LIT("shop"), EC_LIT("defaults"));
    static const char *const pods_path[] = {"spec.hard.pods", "metadata.labels.team"};
    ec_value pods[2];
    CHECK(ec_json_find(stored, pods_path, 2, pods, NULL) && ec_str_eqs(pods[0].text, "20") && ec_str_eqs(pods[1].text, "p"));
    /* ...and then it is unchanged. */
    CHECK(ec_kube_ensure("resourcequotas", S(quota20), EC_LIT("me"), NULL) == EC_KUBE_UNCHANGED);
    CHECK(strcmp(ec_mock_kube_verbs(), "get get apply get") == 0);

    /* Not ours: left alone, and remove_owned leaves it too. */
    ec_mock_kube_clear_requests();
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("you"), &r) == EC_KUBE_NOT_OWNED);
    CHECK(r.status == 200 && ec_kube_owns(r.object, EC_LIT("me")));
    ec_kube_free(&r);
    CHECK(ec_kube_remove_owned("resourcequotas", EC_LIT("shop"), EC_LIT("defaults"), EC_LIT("you"), NULL) == EC_KUBE_NOT_OWNED);
    ec_fake_put("resourcequotas", S("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"unlabelled\"}}"));
    CHECK(ec_kube_remove_owned("resourcequotas", EC_LIT("shop"), EC_LIT("unlabelled"), EC_LIT("me"), NULL) == EC_KUBE_NOT_OWNED);
    CHECK(strcmp(ec_mock_kube_verbs(), "get get get") == 0);

    /* remove_owned: deletes only ours; absent afterwards. */
    CHECK(ec_kube_remove_owned("resourcequotas", EC_LIT("shop"), EC_LIT("defaults"), EC_LIT("me"), &r) == EC_KUBE_DELETED);
    CHECK(strcmp(r.verb, "delete") == 0 && r.status == 200 && r.object.ptr != NULL);
    ec_kube_free(&r);
    CHECK(request_is(4, "{\"verb\":\"delete\",\"resource\":\"resourcequotas\",\"namespace\":\"shop\",\"name\":\"defaults\"}"));
    CHECK(ec_fake_object("resourcequotas", EC_LIT("shop"), EC_LIT("defaults")).ptr == NULL);
    CHECK(ec_kube_remove_owned("resourcequotas", EC_LIT("shop"), EC_LIT("defaults"), EC_LIT("me"), NULL) == EC_KUBE_ABSENT);
    CHECK(ec_fake_object("resourcequotas", EC_LIT("shop"), EC_LIT("unlabelled")).ptr != NULL);

    /* Refusals are told apart from the host's errors. */
    int calls = 0;
    ec_mock_kube_transport(refuse_writes, &calls);
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("me"), &r) == EC_KUBE_REFUSED);
    CHECK(strcmp(r.verb, "create") == 0 && r.status == 403 && ec_str_eqs(r.message, "forbidden") && calls == 2);
    ec_kube_free(&r);
    ec_mock_kube_transport(NULL, NULL);
    ec_mock_kube_answer(S("{\"status\":500,\"message\":\"etcd\"}"));
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("me"), &r) == EC_KUBE_REFUSED);
    CHECK(strcmp(r.verb, "get") == 0 && ec_kube_transient(&r));
    ec_kube_free(&r);
    ec_mock_kube_answer(S("{\"error\":\"denied: plugin p may not get resourcequotas\"}"));
    CHECK(ec_kube_ensure("resourcequotas", S(quota10), EC_LIT("me"), &r) == EC_KUBE_FAILED);
    CHECK(ec_kube_failure(&r) == EC_FAIL_DENIED);
    ec_kube_free(&r);
    ec_mock_kube_answer(S("{\"error\":\"denied: plugin p may not get resourcequotas\"}"));
    CHECK(ec_kube_remove_owned("resourcequotas", EC_LIT("shop"), EC_LIT("x"), EC_LIT("me"), NULL) == EC_KUBE_FAILED);
    size_t before = ec_mock_kube_count();
    CHECK(ec_kube_ensure("resourcequotas", S("{\"metadata\":{}}"), EC_LIT("me"), &r) == EC_KUBE_FAILED);
    CHECK(ec_kube_failure(&r) == EC_FAIL_INVALID && starts_with(r.error, "malformed request"));
    ec_kube_free(&r);
    CHECK(ec_kube_ensure("resourcequotas", S("not json"), EC_LIT("me"), NULL) == EC_KUBE_FAILED);
    CHECK(ec_mock_kube_count() == before); /* nothing sent */

    /* Cluster-scoped: no namespace anywhere; an owner with odd characters is escaped. */
    ec_mock_kube_clear_requests();
    CHECK(ec_kube_ensure("namespaces", S("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"team-a\","
                                          "\"labels\":{\"app.kubernetes.io/managed-by\":\"old\",\"x\":\"y\"}}}"),
                         S("m\"e"), NULL) == EC_KUBE_CREATED);
    CHECK(request_is(0, "{\"verb\":\"get\",\"resource\":\"namespaces\",\"name\":\"team-a\"}"));
    CHECK(request_is(1, "{\"verb\":\"create\",\"resource\":\"namespaces\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                        "\"metadata\":{\"name\":\"team-a\",\"labels\":{\"app.kubernetes.io/managed-by\":\"m\\\"e\",\"x\":\"y\"}}}}"));
    CHECK(ec_kube_ensure("namespaces", S("{\"metadata\":{\"name\":\"team-a\"}}"), S("m\"e"), NULL) == EC_KUBE_UNCHANGED);

    CHECK(strcmp(ec_kube_result_name(EC_KUBE_NOT_OWNED), "not owned") == 0 && strcmp(ec_kube_result_name(EC_KUBE_ABSENT), "absent") == 0);
    CHECK(ec_kube_wrote(EC_KUBE_CREATED) && ec_kube_wrote(EC_KUBE_DELETED) && !ec_kube_wrote(EC_KUBE_REFUSED));
    scratch_free_all();
    ec_mock_reset();
}

static void test_fake_cluster(void) {
    ec_mock_reset();
    ec_mock_kube_fake(true);
    ec_kube_response r;
    const char *objects[] = {
        "{\"metadata\":{\"namespace\":\"a\",\"name\":\"y\",\"labels\":{\"app.kubernetes.io/managed-by\":\"you\"}}}",
        "{\"metadata\":{\"namespace\":\"a\",\"name\":\"x\",\"labels\":{\"app.kubernetes.io/managed-by\":\"me\",\"tier\":\"db\"}}}",
        "{\"metadata\":{\"namespace\":\"b\",\"name\":\"x\",\"labels\":{\"app.kubernetes.io/managed-by\":\"me\"}}}",
    };
    for (size_t i = 0; i < 3; i++) ec_fake_put("configmaps", S(objects[i]));
    ec_fake_put("secrets", S("{\"metadata\":{\"namespace\":\"a\",\"name\":\"s\"}}"));
    CHECK(ec_mock_kube_count() == 0); /* puts are not requests */

    ec_buf sel = {0};
    ec_kube_owner_selector(&sel, EC_LIT("me"));
    CHECK(ec_kube_list("configmaps", EC_LIT("a"), (ec_str){sel.ptr, sel.len}, (ec_str){NULL, 0}, &r));
    CHECK(r.n_items == 1 && ec_str_eqs(ec_json_member(ec_json_member(r.item[0], EC_LIT("metadata")).text, EC_LIT("name")).text, "x"));
    ec_kube_free(&r);
    free(sel.ptr);
    struct {
        const char *selector;
        size_t n;
    } lists[] = {{"", 3}, {"app.kubernetes.io/managed-by!=me", 1}, {"tier", 1}, {"!tier", 2},
                 {"app.kubernetes.io/managed-by==me, tier = db", 1}, {"tier!=db", 2}, {"nope=1", 0}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        CHECK(ec_kube_list("configmaps", (ec_str){NULL, 0}, ec_cstr(lists[i].selector), (ec_str){NULL, 0}, &r));
        if (r.n_items != lists[i].n) fprintf(stderr, "  selector %s: %zu items\n", lists[i].selector, r.n_items);
        CHECK(r.status == 200 && r.n_items == lists[i].n);
        ec_kube_free(&r);
    }
    /* Sorted by namespace and name. */
    CHECK(ec_kube_list("configmaps", (ec_str){NULL, 0}, (ec_str){NULL, 0}, (ec_str){NULL, 0}, &r) && r.n_items == 3);
    static const char *const key[] = {"metadata.namespace", "metadata.name"};
    ec_value k[2];
    CHECK(ec_json_find(r.item[0], key, 2, k, NULL) && ec_str_eqs(k[0].text, "a") && ec_str_eqs(k[1].text, "x"));
    CHECK(ec_json_find(r.item[2], key, 2, k, NULL) && ec_str_eqs(k[0].text, "b"));
    ec_kube_free(&r);

    /* get, 404, create 409, patch (null removes), delete. */
    CHECK(ec_kube_get("configmaps", EC_LIT("a"), EC_LIT("z"), &r) && r.status == 404);
    CHECK(ec_str_eqs(r.message, "configmaps \"z\" not found"));
    ec_kube_free(&r);
    CHECK(ec_kube_create("configmaps", (ec_str){NULL, 0}, S(objects[0]), &r) && r.status == 409);
    CHECK(ec_str_eqs(r.message, "configmaps \"y\" already exists"));
    ec_kube_free(&r);
    CHECK(ec_kube_create("configmaps", EC_LIT("c"), S("{\"metadata\":{\"name\":\"new\"},\"data\":{\"k\":\"v\",\"o\":\"1\"}}"), &r));
    static const char *const meta[] = {"metadata.namespace", "metadata.resourceVersion", "metadata.uid"};
    ec_value m[3];
    CHECK(r.status == 201 && ec_json_find(r.object, meta, 3, m, NULL) && ec_str_eqs(m[0].text, "c"));
    CHECK(m[1].type == EC_STRING && m[2].type == EC_STRING);
    ec_str version = ec_str_dup(m[1].text), uid = ec_str_dup(m[2].text);
    ec_kube_free(&r);
    CHECK(ec_kube_patch("configmaps", EC_LIT("c"), EC_LIT("new"), S("{\"data\":{\"o\":null,\"p\":\"2\"}}"), &r) && r.status == 200);
    ec_value data = ec_json_member(r.object, EC_LIT("data"));
    CHECK(ec_str_eqs(data.text, "{\"k\":\"v\",\"p\":\"2\"}"));
    CHECK(ec_json_find(r.object, meta, 3, m, NULL) && !ec_str_eq(m[1].text, version) && ec_str_eq(m[2].text, uid));
    ec_kube_free(&r);
    free((void *)version.ptr);
    free((void *)uid.ptr);
    CHECK(ec_kube_patch("configmaps", EC_LIT("c"), EC_LIT("gone"), S("{}"), &r) && r.status == 404);
    ec_kube_free(&r);
    CHECK(ec_kube_apply("configmaps", (ec_str){NULL, 0}, S("{\"metadata\":{\"namespace\":\"c\",\"name\":\"new\"},\"data\":{\"q\":\"3\"}}"), false, &r));
    CHECK(r.status == 200 && ec_str_eqs(ec_json_member(r.object, EC_LIT("data")).text, "{\"k\":\"v\",\"p\":\"2\",\"q\":\"3\"}"));
    ec_kube_free(&r);
    CHECK(ec_kube_apply("configmaps", (ec_str){NULL, 0}, S("{\"metadata\":{\"namespace\":\"c\",\"name\":\"other\"}}"), true, &r) && r.status == 201);
    ec_kube_free(&r);
    CHECK(ec_kube_delete("configmaps", EC_LIT("c"), EC_LIT("new"), &r) && r.status == 200);
    CHECK(ec_str_eqs(ec_json_member(ec_json_member(r.object, EC_LIT("metadata")).text, EC_LIT("name")).text, "new"));
    ec_kube_free(&r);
    CHECK(ec_kube_delete("configmaps", EC_LIT("c"), EC_LIT("new"), &r) && r.status == 404);
    ec_kube_free(&r);
    CHECK(ec_fake_remove("configmaps", EC_LIT("c"), EC_LIT("other")) && !ec_fake_remove("configmaps", EC_LIT("c"), EC_LIT("other")));
    CHECK(ec_kube_send("watch", S("{\"verb\":\"watch\",\"resource\":\"pods\"}"), &r) == false);
    CHECK(r.host_error && starts_with(r.error, "unknown verb \"watch\"") && ec_kube_failure(&r) == EC_FAIL_DENIED);
    ec_kube_free(&r);
    CHECK(strcmp(ec_mock_kube_verbs(), "list list list list list list list list list get create create patch patch apply apply delete delete watch") == 0);

    /* The canned queue comes first, then the transport, then the fake. */
    ec_mock_kube_answer(S("{\"status\":418,\"message\":\"canned\"}"));
    int calls = 0;
    ec_mock_kube_transport(refuse_writes, &calls);
    CHECK(ec_kube_delete("secrets", EC_LIT("a"), EC_LIT("s"), &r) && r.status == 418);
    ec_kube_free(&r);
    CHECK(ec_kube_delete("secrets", EC_LIT("a"), EC_LIT("s"), &r) && r.status == 403 && calls == 1);
    ec_kube_free(&r);
    CHECK(ec_kube_get("secrets", EC_LIT("a"), EC_LIT("s"), &r) && r.status == 200 && calls == 2);
    ec_kube_free(&r);
    scratch_free_all();
    ec_mock_reset();
    CHECK(ec_mock_kube_count() == 0 && ec_fake_object("secrets", EC_LIT("a"), EC_LIT("s")).ptr == NULL);
    CHECK(strcmp(ec_mock_kube_verbs(), "") == 0);
    ec_mock_reset();
}

/* ---- metrics ---- */

static bool metric_is(size_t i, const char *json) {
    ec_str got = ec_mock_metric(i);
    bool same = ec_str_eqs(got, json);
    if (!same) fprintf(stderr, "  metric %zu: %.*s\n  want:      %s\n", i, (int)got.len, got.ptr ? got.ptr : "(none)", json);
    return same;
}

static bool number_is(double v, const char *want) {
    ec_buf b = {0};
    put_number(&b, v);
    return buf_is(&b, want);
}

static void test_numbers(void) {
    CHECK(number_is(0, "0") && number_is(-0.0, "0") && number_is(1, "1") && number_is(-3, "-3"));
    CHECK(number_is(0.042, "0.042") && number_is(1.5, "1.5") && number_is(0.1, "0.1") && number_is(1e-5, "0.00001"));
    CHECK(number_is(1.5e-7, "1.5e-7") && number_is(2.5e20, "2.5e20") && number_is(1e15, "1e15"));
    CHECK(number_is(999999999999999.0, "999999999999999") && number_is(123456.789, "123456.789"));
    CHECK(number_is(1.0 / 3, "0.333333333333333") && number_is(2.0 / 3, "0.666666666666667"));
    CHECK(number_is(9.999999999999999e22, "1e23") && number_is(5e-324, "4.94065645841247e-324"));
    CHECK(number_is(1.7976931348623157e308, "1.79769313486232e308"));
    /* Round trip within 15 digits, and the same text as printf's %.15g where that is plain. */
    const double values[] = {3.14159265358979, 0.005, 0.25, 10.5, 1234567.125, 6.02214076e23, 1e-300, 0.000123};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        ec_buf b = {0};
        put_number(&b, values[i]);
        ec_buf_add(&b, "", 1);
        double back = strtod(b.ptr, NULL);
        char printed[64];
        snprintf(printed, sizeof printed, "%.15g", values[i]);
        CHECK(back == strtod(printed, NULL));
        free(b.ptr);
    }
}

static void test_metrics(void) {
    ec_mock_reset();
    ec_label reason = {"reason", EC_LIT("BackOff")};
    CHECK(ec_counter("warning_events", "Warning events by reason", &reason, 1, 1));
    CHECK(ec_gauge("zones", NULL, NULL, 0, 3));
    CHECK(ec_gauge("zones", "", NULL, 0, -2.5));
    ec_label two[] = {{"kind", EC_LIT("Pod")}, {"odd", S("q\"\\\n\x01 caf\xC3\xA9")}, {"none", {NULL, 0}}};
    CHECK(ec_observe("sync_seconds", "Time to \"sync\"", two, 3, 0.042));
    const double buckets[] = {0.1, 0.5, 2.5};
    CHECK(ec_observe_buckets("size_bytes", "Sizes", NULL, 0, buckets, 3, 1024));
    CHECK(ec_mock_metric_count() == 5);
    CHECK(metric_is(0, "{\"name\":\"warning_events\",\"kind\":\"counter\",\"help\":\"Warning events by reason\","
                       "\"labels\":{\"reason\":\"BackOff\"},\"value\":1}"));
    CHECK(metric_is(1, "{\"name\":\"zones\",\"kind\":\"gauge\",\"value\":3}"));
    CHECK(metric_is(2, "{\"name\":\"zones\",\"kind\":\"gauge\",\"value\":-2.5}"));
    CHECK(metric_is(3, "{\"name\":\"sync_seconds\",\"kind\":\"histogram\",\"help\":\"Time to \\\"sync\\\"\","
                       "\"labels\":{\"kind\":\"Pod\",\"odd\":\"q\\\"\\\\\\n\\u0001 caf\xC3\xA9\",\"none\":\"\"},\"value\":0.042}"));
    CHECK(metric_is(4, "{\"name\":\"size_bytes\",\"kind\":\"histogram\",\"help\":\"Sizes\",\"value\":1024,"
                       "\"buckets\":[0.1,0.5,2.5]}"));

    /* Not finite: nothing is sent. */
    CHECK(!ec_gauge("zones", NULL, NULL, 0, NAN) && !ec_gauge("zones", NULL, NULL, 0, INFINITY));
    const double nan_bucket[] = {1, NAN};
    CHECK(!ec_observe_buckets("h", NULL, NULL, 0, nan_bucket, 2, 1));
    CHECK(!ec_counter(NULL, NULL, NULL, 0, 1));
    CHECK(ec_mock_metric_count() == 5);

    /* The mock refuses what the host would (and says why on stderr), and records it. */
    ec_label le = {"le", EC_LIT("1")}, upper = {"Reason", EC_LIT("x")};
    static const char *const names[] = {"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9", "l10"};
    ec_label many[11];
    for (size_t i = 0; i < 11; i++) many[i] = (ec_label){names[i], EC_LIT("v")};
    char long_value[300];
    memset(long_value, 'v', sizeof long_value);
    ec_label long_label = {"reason", {long_value, sizeof long_value}};
    const double descending[] = {2, 1};
    fprintf(stderr, "(the next metric refusals are expected)\n");
    CHECK(!ec_counter("warning_events_total", NULL, NULL, 0, 1));
    CHECK(!ec_counter("Warning", NULL, NULL, 0, 1));
    CHECK(!ec_counter("", NULL, NULL, 0, 1));
    CHECK(!ec_counter("a-b", NULL, NULL, 0, 1));
    CHECK(!ec_counter("negative", NULL, NULL, 0, -1));
    CHECK(!ec_counter("zones", NULL, NULL, 0, 1)); /* a gauge before */
    CHECK(!ec_counter("labels", NULL, &le, 1, 1));
    CHECK(!ec_counter("labels", NULL, &upper, 1, 1));
    CHECK(!ec_counter("labels", NULL, many, 11, 1));
    CHECK(!ec_counter("labels", NULL, &long_label, 1, 1));
    CHECK(!ec_observe_buckets("size_bytes2", NULL, NULL, 0, descending, 2, 1));
    CHECK(ec_mock_metric_count() == 16);
    CHECK(ec_counter("labels", NULL, many, 10, 0));
    ec_mock_metric_refuse(true);
    CHECK(!ec_counter("warning_events", NULL, &reason, 1, 1));
    ec_mock_metric_refuse(false);
    CHECK(ec_counter("warning_events", NULL, &reason, 1, 1));
    CHECK(ec_mock_metric(99).ptr == NULL);
    scratch_free_all();
    ec_mock_reset();
    CHECK(ec_mock_metric_count() == 0);
}

int main(void) {
    test_head();
    test_decode();
    test_find();
    test_results();
    test_buf_and_strings();
    test_init_keeps_config();
    test_iterate();
    test_contains();
    test_merge();
    test_quoted();
    test_kube_requests();
    test_kube_answers();
    test_ensure();
    test_fake_cluster();
    test_numbers();
    test_metrics();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
