/* Unit tests for core/sha256: FIPS 180-2 / NIST CAVS example vectors, the padding boundaries
 * (values from Python's hashlib), and streaming in every chunk size equal to one-shot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void hex_of(const uint8_t d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

static void test_fips_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *digest;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        /* two blocks: the 448-bit message leaves no room for the length in the first block */
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
         "nopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha256_hex(v[i].msg, strlen(v[i].msg), hex);
        assert_string_equal(hex, v[i].digest);
    }
}

static void test_million_a(void **state)
{
    (void)state;
    const size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    char hex[65];
    sha256_hex(a, n, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* streamed in uneven pieces, crossing block boundaries at every offset */
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t take = step < n - off ? step : n - off;
        sha256_update(&c, a + off, take);
        off += take;
        step = step % 131 + 7;
    }
    sha256_final(&c, d);
    hex_of(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *digest;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[128], hex[65];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha256_hex(a, v[i].n, hex);
        assert_string_equal(hex, v[i].digest);
    }
}

static void test_every_split_of_binary_input(void **state)
{
    (void)state;
    uint8_t msg[768];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)i;
    char hex[65];
    sha256_hex(msg, sizeof msg, hex);
    assert_string_equal(hex, "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");
    for (size_t split = 0; split <= sizeof msg; split += 13) {
        sha256_ctx c;
        uint8_t d[32];
        char hx[65];
        sha256_init(&c);
        sha256_update(&c, msg, split);
        sha256_update(&c, msg + split, 0);
        sha256_update(&c, msg + split, sizeof msg - split);
        sha256_final(&c, d);
        hex_of(d, hx);
        assert_string_equal(hx, hex);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_every_split_of_binary_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
