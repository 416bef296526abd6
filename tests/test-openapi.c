/* schema/openapi.yaml lists exactly the routes the router serves: every (method, path) of the paths
 * section is in server/routes.c's table and every route of the table is in the document. The daemon
 * serves the embedded copy, which must be the file itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "embedded.h"

typedef struct op {
    char method[8];
    char path[128];
} op;

/* The operations of the paths section: "  /path:" lines, then "    get:"-style method lines. */
static int parse_paths(const char *yaml, op *ops, int cap)
{
    int n = 0;
    const char *line = strstr(yaml, "\npaths:\n");
    assert_non_null(line);
    char path[128] = "";
    for (line = strchr(line + 1, '\n') + 1; *line && *line != '\n'; line = strchr(line, '\n') + 1) {
        size_t len = strcspn(line, "\n");
        if (!isspace((unsigned char)line[0]) && len)
            break; /* the next top-level key */
        if (len > 3 && !strncmp(line, "  /", 3) && line[len - 1] == ':') {
            snprintf(path, sizeof path, "%.*s", (int)(len - 3), line + 2);
            continue;
        }
        static const char *const methods[] = {"get", "post", "delete", "put", "patch", "head", "options"};
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            size_t ml = strlen(methods[m]);
            if (len == 4 + ml + 1 && !strncmp(line, "    ", 4) && !strncmp(line + 4, methods[m], ml) &&
                line[4 + ml] == ':') {
                assert_true(n < cap);
                for (size_t k = 0; k <= ml; k++)
                    ops[n].method[k] = (char)toupper((unsigned char)methods[m][k]);
                snprintf(ops[n].path, sizeof ops[n].path, "%s", path);
                n++;
            }
        }
        if (!strchr(line, '\n'))
            break;
    }
    return n;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*len + 1);
    assert_int_equal(fread(buf, 1, *len, f), *len);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_document_lists_exactly_the_routes(void **state)
{
    (void)state;
    const char *src = getenv("PTUNE_SRC");
    assert_non_null(src);
    char path[512];
    snprintf(path, sizeof path, "%s/schema/openapi.yaml", src);
    size_t len;
    char *yaml = read_file(path, &len);
    op ops[64];
    int n = parse_paths(yaml, ops, 64);
    assert_int_equal(n, app_n_routes);
    for (int i = 0; i < app_n_routes; i++) {
        int found = 0;
        for (int k = 0; k < n; k++)
            found += !strcmp(ops[k].method, app_routes[i].method) && !strcmp(ops[k].path, app_routes[i].pattern);
        if (found != 1)
            fail_msg("route %s %s is listed %d times in openapi.yaml", app_routes[i].method, app_routes[i].pattern,
                     found);
    }
    for (int k = 0; k < n; k++) {
        int found = 0;
        for (int i = 0; i < app_n_routes; i++)
            found += !strcmp(ops[k].method, app_routes[i].method) && !strcmp(ops[k].path, app_routes[i].pattern);
        if (found != 1)
            fail_msg("openapi.yaml documents %s %s, which the router does not serve", ops[k].method, ops[k].path);
    }
    /* The daemon serves the document compiled in: it must be this file. */
    assert_int_equal(embedded_openapi_count, 1);
    assert_int_equal(embedded_openapi[0].len, len);
    assert_memory_equal(embedded_openapi[0].data, yaml, len);
    free(yaml);
}

static void test_parser_sees_a_missing_route(void **state)
{
    (void)state;
    static const char doc[] = "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      summary: x\n    post:\n"
                              "  /b/{id}:\n    parameters:\n      - x\n    delete:\ncomponents:\n  x: 1\n";
    op ops[8];
    assert_int_equal(parse_paths(doc, ops, 8), 3);
    assert_string_equal(ops[1].method, "POST");
    assert_string_equal(ops[2].path, "/b/{id}");
    assert_string_equal(ops[2].method, "DELETE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_lists_exactly_the_routes),
        cmocka_unit_test(test_parser_sees_a_missing_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
