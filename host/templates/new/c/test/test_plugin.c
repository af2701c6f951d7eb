/*
 * Unit tests of plugin.c, built natively with the vendored helper: bash build.sh test
 * (natively, ec_log writes to stderr and the exports are plain functions).
 */
#include "ec_guest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

/* Calls the plugin with `event` and checks its level and message. */
static void expect(const char *event, ec_level level, const char *message) {
    ec_buf out = {0};
    ec_level got = ec_plugin_handle_event((ec_str){event, strlen(event)}, &out);
    bool same = out.len == strlen(message) && (!out.len || memcmp(out.ptr, message, out.len) == 0);
    if (got == level && same) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAILED: %s\n  expected level %d \"%s\", got level %d \"%.*s\"\n", event,
                (int)level, message, (int)got, (int)out.len, out.ptr ? out.ptr : "");
    }
    free(out.ptr);
}

int main(void) {
    expect("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
           "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\"},\"spec\":{}}}",
           EC_INFO, "Kind: Pod; Name: web-1");
    /* Nested members of the same name are not the object's; members may come in any order. */
    expect("{\"object\":{\"metadata\":{\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs\"}],"
           "\"name\":\"web-2\"},\"kind\":\"Pod\"},\"type\":\"MODIFIED\"}",
           EC_INFO, "Kind: Pod; Name: web-2");
    /* Nothing to log without a name. */
    expect("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{}}}", EC_NONE, "");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
