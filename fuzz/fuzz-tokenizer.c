/* Fuzzes tokenizer_encode on arbitrary bytes with the small committed vocabulary
 * fuzz/model/vocab.txt. The first byte's low bit picks do_lower_case, the rest is the text.
 * Checked against the independent UTF-8 validator of fuzz.h: valid text must tokenize to ids inside
 * the vocabulary (never a special token); invalid text must fail with PT_EFORMAT and err->offset at the first byte of the first ill-formed sequence. */
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
    char *text = fuzz_read_fixture("model/vocab.txt", &len);
    pt_err err;
    FUZZ_CHECK(vocab_parse(&voc, text, len, &err) == 0);
    free(text);
    FUZZ_CHECK(tokenizer_init(&tok_lower, voc, true, &err) == 0);
    FUZZ_CHECK(tokenizer_init(&tok_cased, voc, false, &err) == 0);
    return 0;
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
    long bad = fuzz_utf8_invalid_at(data + 1, len);
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
