/* Unit tests for server/tar: round trip, what tar(1) produces, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tar.h"

static void *archive(size_t *len)
{
    static const char big[1500] = {'x'};
    tar_entry in[3] = {{"ptune.json", "{\"a\":1}", 7}, {"empty", "", 0}, {"big.bin", big, sizeof big}};
    void *a;
    pt_err e;
    assert_int_equal(tar_write(in, 3, 1700000000, &a, len, &e), 0);
    return a;
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len;
    unsigned char *a = archive(&len);
    assert_int_equal(len, 512 * (1 + 1 + 1 + 1 + 3 + 2));
    tar_entry out[TAR_MAX_ENTRIES];
    int n;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(tar_read(a, len, out, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].name, "ptune.json");
    assert_int_equal(out[0].len, 7);
    assert_memory_equal(out[0].data, "{\"a\":1}", 7);
    assert_int_equal(out[1].len, 0);
    assert_int_equal(out[2].len, 1500);
    assert_int_equal(((const char *)out[2].data)[0], 'x');
    assert_non_null(tar_find(out, n, "big.bin"));
    assert_null(tar_find(out, n, "nope"));
    /* Without the end blocks it is still whole. */
    assert_int_equal(tar_read(a, len - 1024, out, &n, &e), 0);
    assert_int_equal(n, 3);
    free(a);
}

static void test_reads_what_gnu_tar_writes(void **state)
{
    (void)state;
    const char *tmp = getenv("PTUNE_TMP");
    char cmd[4096], path[256];
    snprintf(path, sizeof path, "%s/tartest-%d", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s/d && printf 'hello' > %s/d/a.txt && printf 'second' > %s/d/b.json && "
             "tar -cf %s/x.tar -C %s/d . 2>/dev/null",
             path, path, path, path, path, path);
    if (system(cmd) != 0)
        skip(); /* tar(1) missing: nothing to compare with */
    char tarpath[600];
    snprintf(tarpath, sizeof tarpath, "%s/x.tar", path);
    FILE *f = fopen(tarpath, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tar_entry out[TAR_MAX_ENTRIES];
    int n;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(tar_read(buf, len, out, &n, &e), 0);
    assert_int_equal(n, 2); /* "./" directory skipped, "./" prefixes stripped */
    const tar_entry *a = tar_find(out, n, "a.txt"), *b = tar_find(out, n, "b.json");
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a->data, "hello", 5);
    assert_int_equal(b->len, 6);
    snprintf(cmd, sizeof cmd, "rm -rf %s", path);
    assert_int_equal(system(cmd), 0);
}

static void expect_refused(unsigned char *a, size_t len, const char *what)
{
    tar_entry out[TAR_MAX_ENTRIES];
    int n;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(tar_read(a, len, out, &n, &e), PT_EFORMAT);
    if (!strstr(e.msg, what))
        fail_msg("expected '%s' in: %s", what, e.msg);
    assert_true(e.offset >= 0);
}

static void rechecksum(unsigned char *h)
{
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? ' ' : h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_refusals(void **state)
{
    (void)state;
    size_t len;
    unsigned char *a = archive(&len);
    expect_refused(a, 100, "shorter than one");
    a[10] ^= 1; /* damage the name: checksum no longer matches */
    expect_refused(a, len, "checksum mismatch");
    a[10] ^= 1;
    a[156] = '2'; /* symlink */
    rechecksum(a);
    expect_refused(a, len, "only regular files");
    a[156] = '0';
    memcpy(a, "../evil", 8);
    rechecksum(a);
    expect_refused(a, len, "'..'");
    memcpy(a, "/etc/passwd", 12);
    rechecksum(a);
    expect_refused(a, len, "absolute");
    memcpy(a, "big.bin\0\0\0\0\0", 12); /* same name as the third entry */
    rechecksum(a);
    expect_refused(a, len, "duplicate entry");
    memcpy(a, "ptune.json\0", 11);
    snprintf((char *)a + 124, 12, "%011o", 1u << 30); /* size far past the buffer */
    rechecksum(a);
    expect_refused(a, len, "runs past the end");
    snprintf((char *)a + 124, 12, "%011o", 7u);
    memcpy(a + 124, "9", 1);
    rechecksum(a);
    expect_refused(a, len, "malformed entry size");
    snprintf((char *)a + 124, 12, "%011o", 7u);
    rechecksum(a);
    expect_refused(a, len - 1024 + 10, "partial block");
    memset(a, 0, 512);
    expect_refused(a, len, "no files");
    free(a);
    tar_entry longname = {.data = "", .len = 0};
    memset(longname.name, 'n', 101);
    void *out;
    size_t out_len;
    pt_err e;
    assert_int_equal(tar_write(&longname, 1, 0, &out, &out_len, &e), PT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reads_what_gnu_tar_writes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
