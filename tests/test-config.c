/* Unit tests for server/config: defaults, flags, environment twins and their precedence, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int parse(config *c, pt_err *e, int argc, char **argv)
{
    pt_err_clear(e);
    return config_parse(c, argc, argv, e);
}

static int clear_env(void **state)
{
    (void)state;
    static const char *const vars[] = {"PTUNED_MODEL", "PTUNED_DB", "PTUNED_LISTEN", "PTUNED_WORKERS",
                                       "PTUNED_THREADS", "PTUNED_MAX_BODY", "PTUNED_MAX_BATCH_TOKENS",
                                       "PTUNED_MAX_CLIENT_BATCH", "PTUNED_QUEUE_LIMIT", "PTUNED_API_KEYS_FILE",
                                       "PTUNED_LOG_FORMAT", "PTUNED_DRAIN_TIMEOUT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

static void test_defaults_and_flags(void **state)
{
    (void)state;
    config c;
    pt_err e;
    char *a1[] = {"ptuned", "--model", "m"};
    assert_int_equal(parse(&c, &e, 3, a1), 0);
    assert_string_equal(c.model, "m");
    assert_string_equal(c.db, "./ptuned.db");
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.max_client_batch, 64);
    assert_int_equal(c.log_format, HTTP_LOG_TEXT);
    char *a2[] = {"ptuned", "--model=m2", "--db", "x.db", "--workers", "3", "--max-body", "2M",
                  "--log-format", "json", "--listen", "[::1]:0", "--api-keys-file", "keys"};
    assert_int_equal(parse(&c, &e, 14, a2), 0);
    assert_string_equal(c.model, "m2");
    assert_string_equal(c.db, "x.db");
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.max_body, 2u << 20);
    assert_int_equal(c.log_format, HTTP_LOG_JSON);
    assert_string_equal(c.api_keys_file, "keys");
}

static void test_environment_twins(void **state)
{
    (void)state;
    config c;
    pt_err e;
    setenv("PTUNED_MODEL", "from-env", 1);
    setenv("PTUNED_WORKERS", "4", 1);
    setenv("PTUNED_MAX_BODY", "64k", 1);
    char *a1[] = {"ptuned"};
    assert_int_equal(parse(&c, &e, 1, a1), 0);
    assert_string_equal(c.model, "from-env");
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.max_body, 65536);
    /* A flag wins over its variable. */
    char *a2[] = {"ptuned", "--workers", "2"};
    assert_int_equal(parse(&c, &e, 3, a2), 0);
    assert_int_equal(c.workers, 2);
    setenv("PTUNED_WORKERS", "zero", 1);
    assert_int_equal(parse(&c, &e, 1, a1), PT_EINVAL);
    assert_non_null(strstr(e.msg, "PTUNED_WORKERS"));
    clear_env(NULL);
}

static void expect_bad(int argc, char **argv, const char *what)
{
    config c;
    pt_err e;
    assert_int_equal(parse(&c, &e, argc, argv), PT_EINVAL);
    if (!strstr(e.msg, what))
        fail_msg("expected '%s' in: %s", what, e.msg);
}

static void test_refusals(void **state)
{
    (void)state;
    char *missing_model[] = {"ptuned"};
    expect_bad(1, missing_model, "--model");
    char *unknown[] = {"ptuned", "--model", "m", "--nope"};
    expect_bad(4, unknown, "unknown option '--nope'");
    char *no_value[] = {"ptuned", "--model"};
    expect_bad(2, no_value, "--model needs a value");
    char *range[] = {"ptuned", "--model", "m", "--workers", "65"};
    expect_bad(5, range, "1..64");
    char *trailing[] = {"ptuned", "--model", "m", "--max-batch-tokens", "12x"};
    expect_bad(5, trailing, "--max-batch-tokens");
    char *suffix[] = {"ptuned", "--model", "m", "--max-body", "5T"};
    expect_bad(5, suffix, "--max-body");
    char *log[] = {"ptuned", "--model", "m", "--log-format", "xml"};
    expect_bad(5, log, "text or json");
    char *listen[] = {"ptuned", "--model", "m", "--listen", "8080"};
    expect_bad(5, listen, "host:port");
    char *flag_value[] = {"ptuned", "--help=yes"};
    expect_bad(2, flag_value, "takes no value");
    char *empty[] = {"ptuned", "--model", ""};
    expect_bad(3, empty, "empty");
    /* --help needs nothing else. */
    config c;
    pt_err e;
    char *help[] = {"ptuned", "--help"};
    assert_int_equal(parse(&c, &e, 2, help), 0);
    assert_true(c.help);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_and_flags, clear_env),
        cmocka_unit_test_setup(test_environment_twins, clear_env),
        cmocka_unit_test_setup(test_refusals, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
