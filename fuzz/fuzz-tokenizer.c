/* Fuzzes tokenizer_encode on arbitrary bytes with the small committed vocabulary
 * fuzz/tokenizer-vocab.txt. The first byte's low bit picks do_lower_case, the rest is the text.
 * Checked against an independent UTF-8 validator written here (a table of RFC 3629's well-formed
 * byte sequences, not core/utf8.c): valid text must tokenize to ids inside the vocabulary; invalid
 * text must fail with PT_EFORMAT and err->offset at the first byte of the first ill-formed sequence. */
#include "fuzz.h"
#include "tokenizer.h"
#include "vocab.h"

static vocab *voc;
static tokenizer tok_lower, tok_cased;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    size_t len;
    char *text = fuzz_read_fixture("tokenizer-vocab.txt", &len);
    pt_err err;
    FUZZ_CHECK(vocab_parse(&voc, text, len, &err) == 0);
    free(text);
    FUZZ_CHECK(tokenizer_init(&tok_lower, voc, true, &err) == 0);
    FUZZ_CHECK(tokenizer_init(&tok_cased, voc, false, &err) == 0);
    return 0;
}

/* Length of the well-formed sequence at s (RFC 3629, table 3-7 of the Unicode standard), 0 if none. */
static size_t wellformed(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    if (b < 0x80)
        return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0)
            lo = 0xA0;
        if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0)
            lo = 0x90;
        if (b == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Offset of the first ill-formed sequence, or -1 when all of s is UTF-8. */
static long first_invalid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = wellformed(s + i, n - i);
        if (!k)
            return (long)i;
        i += k;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const tokenizer *t = data[0] & 1 ? &tok_lower : &tok_cased;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    pt_err err;
    pt_err_clear(&err);
    int rc = tokenizer_encode(t, text, len, &ids, &n, &err);
    long bad = first_invalid(data + 1, len);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(rc == PT_EFORMAT);
        FUZZ_CHECK(err.offset == bad);
        FUZZ_CHECK(ids == NULL);
        return 0;
    }
    FUZZ_CHECK(bad == -1);
    /* Special tokens are spelled with punctuation, which always splits: text can never produce them. */
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < vocab_size(voc));
        FUZZ_CHECK(ids[i] != t->cls_id && ids[i] != t->sep_id && ids[i] != t->mask_id && ids[i] != t->pad_id);
    }
    free(ids);
    return 0;
}
