#include "tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"
#include "utf8.h"

#define MAX_WORD_CHARS 100 /* FullTokenizer's max_input_chars_per_word */

/* Growable arrays owned by one encode call: each grows by doubling, so a call allocates a few
 * times in total, never per character. */
typedef struct {
    uint32_t *word; /* code points of the current whitespace-delimited word, as in the text */
    size_t nword, capword;
    uint32_t *norm; /* the word lower-cased, decomposed, without Mn */
    size_t nnorm, capnorm;
    int32_t *ids;
    size_t nids, capids;
} work;

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(*(void **)pp, c * elem);
    if (!p)
        return PT_ENOMEM;
    *(void **)pp = p;
    *cap = c;
    return 0;
}

static int push_id(work *w, int32_t id)
{
    if (grow(&w->ids, &w->capids, w->nids + 1, sizeof *w->ids))
        return PT_ENOMEM;
    w->ids[w->nids++] = id;
    return 0;
}

/* The blocks google-research/bert's _is_chinese_char lists. */
static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _is_punctuation: the ASCII non-alphanumeric ranges (some are symbols, not P*) or category P*. */
static bool is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return true;
    return uni_flags(c) & UNI_PUNCT;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final sigma when a cased letter precedes it and
 * none follows it, skipping case-ignorable characters both ways, within the word being lowered. */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && (uni_flags(s[j - 1]) & UNI_CASE_IGNORABLE))
        j--;
    if (j == 0 || !(uni_flags(s[j - 1]) & UNI_CASED))
        return 0x3C3;
    for (j = i + 1; j < n && (uni_flags(s[j]) & UNI_CASE_IGNORABLE); j++)
        ;
    return j < n && (uni_flags(s[j]) & UNI_CASED) ? 0x3C3 : 0x3C2;
}

/* Appends the full canonical decomposition of c to w->norm. */
static int append_nfd(work *w, uint32_t c)
{
    if (grow(&w->norm, &w->capnorm, w->nnorm + UNI_MAX_DECOMP, sizeof *w->norm))
        return PT_ENOMEM;
    w->nnorm += uni_decompose(c, w->norm + w->nnorm);
    return 0;
}

/* Canonical ordering: a stable sort by combining class of every run of non-starters (as CPython's
 * nfd_nfkd does, by insertion). */
static void canonical_order(uint32_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        unsigned cur = uni_ccc(s[i]);
        if (cur == 0)
            continue;
        for (size_t j = i; j > 0; j--) {
            unsigned prev = uni_ccc(s[j - 1]);
            if (prev == 0 || prev <= cur)
                break;
            uint32_t tmp = s[j];
            s[j] = s[j - 1];
            s[j - 1] = tmp;
        }
    }
}

/* str.lower(), then unicodedata.normalize("NFD"), then drop Mn: the word's text in w->norm. */
static int normalize(work *w)
{
    w->nnorm = 0;
    for (size_t i = 0; i < w->nword; i++) {
        uint32_t low[UNI_MAX_LOWER];
        size_t nl;
        if (w->word[i] == 0x3A3)
            low[0] = lower_sigma(w->word, w->nword, i), nl = 1;
        else
            nl = uni_lower(w->word[i], low);
        for (size_t k = 0; k < nl; k++)
            if (append_nfd(w, low[k]))
                return PT_ENOMEM;
    }
    canonical_order(w->norm, w->nnorm);
    size_t kept = 0;
    for (size_t i = 0; i < w->nnorm; i++)
        if (!(uni_flags(w->norm[i]) & UNI_MN))
            w->norm[kept++] = w->norm[i];
    w->nnorm = kept;
    return 0;
}

/* WordPiece on one piece (no spaces, no punctuation inside): greedy longest match first. */
static int wordpiece(const tokenizer *t, work *w, const uint32_t *p, size_t m)
{
    if (m > MAX_WORD_CHARS)
        return push_id(w, t->unk_id);
    /* Two spare bytes in front: a "##" lookup writes the marker over the two bytes just before
     * its substring, which belong to pieces already matched. */
    char key[2 + 4 * MAX_WORD_CHARS];
    size_t at[MAX_WORD_CHARS + 1]; /* byte offset of each code point, relative to key + 2 */
    at[0] = 0;
    for (size_t i = 0; i < m; i++)
        at[i + 1] = at[i] + utf8_encode(p[i], key + 2 + at[i]);
    size_t max_len = vocab_max_len(t->v), first = w->nids;
    for (size_t start = 0; start < m;) {
        size_t marker = start ? 2 : 0;
        char *s = key + 2 + at[start] - marker;
        if (marker)
            memcpy(s, "##", 2);
        int32_t id = -1;
        size_t end = m;
        for (; end > start; end--) {
            size_t len = at[end] - at[start] + marker;
            if (len <= max_len && (id = vocab_id(t->v, s, len)) >= 0)
                break;
        }
        if (id < 0) {
            w->nids = first;
            return push_id(w, t->unk_id);
        }
        if (push_id(w, id))
            return PT_ENOMEM;
        start = end;
    }
    return 0;
}

/* One whitespace-delimited word of the cleaned text: normalize, split off punctuation, WordPiece. */
static int flush_word(const tokenizer *t, work *w)
{
    if (w->nword == 0)
        return 0;
    const uint32_t *s = w->word;
    size_t n = w->nword;
    if (t->do_lower_case) {
        if (normalize(w))
            return PT_ENOMEM;
        s = w->norm, n = w->nnorm;
    }
    w->nword = 0;
    size_t piece = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_punct(s[i]))
            continue;
        if ((i > piece && wordpiece(t, w, s + piece, i - piece)) || wordpiece(t, w, s + i, 1))
            return PT_ENOMEM;
        piece = i + 1;
    }
    return n > piece ? wordpiece(t, w, s + piece, n - piece) : 0;
}

static int push_char(work *w, uint32_t c)
{
    if (grow(&w->word, &w->capword, w->nword + 1, sizeof *w->word))
        return PT_ENOMEM;
    w->word[w->nword++] = c;
    return 0;
}

/* Feeds one code point of the text through _clean_text, _tokenize_chinese_chars and the split on
 * whitespace. */
static int feed(const tokenizer *t, work *w, uint32_t c)
{
    if (c == 0 || c == 0xFFFD)
        return 0;
    if (c == '\t' || c == '\n' || c == '\r')
        return flush_word(t, w);
    unsigned f = uni_flags(c);
    if (f & UNI_CONTROL)
        return 0;
    if (f & (UNI_ZS | UNI_PYSPACE))
        return flush_word(t, w);
    if (is_cjk(c)) {
        if (flush_word(t, w) || push_char(w, c))
            return PT_ENOMEM;
        return flush_word(t, w);
    }
    return push_char(w, c);
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, pt_err *err)
{
    pt_err_clear(err);
    *ids = NULL;
    *n = 0;
    work w = {0};
    int rc = grow(&w.ids, &w.capids, 16, sizeof *w.ids);
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; !rc && i < len;) {
        uint32_t c;
        const char *why;
        size_t k = utf8_decode(s + i, len - i, &c, &why);
        if (!k) {
            free(w.word);
            free(w.norm);
            free(w.ids);
            if (err)
                err->offset = (long)i;
            return pt_fail(err, PT_EFORMAT, "invalid UTF-8 at byte %zu: %s", i, why);
        }
        rc = feed(t, &w, c);
        i += k;
    }
    if (!rc)
        rc = flush_word(t, &w);
    free(w.word);
    free(w.norm);
    if (rc) {
        free(w.ids);
        return pt_fail(err, PT_ENOMEM, "out of memory tokenizing %zu bytes", len);
    }
    *ids = w.ids;
    *n = w.nids;
    return 0;
}

int tokenizer_init(tokenizer *t, const vocab *v, bool do_lower_case, pt_err *err)
{
    pt_err_clear(err);
    t->v = v;
    t->do_lower_case = do_lower_case;
    t->unk_id = vocab_id(v, "[UNK]", 5);
    t->cls_id = vocab_id(v, "[CLS]", 5);
    t->sep_id = vocab_id(v, "[SEP]", 5);
    t->pad_id = vocab_id(v, "[PAD]", 5);
    t->mask_id = vocab_id(v, "[MASK]", 6);
    if (t->unk_id < 0)
        return pt_fail(err, PT_EFORMAT, "the vocabulary has no [UNK] token");
    return 0;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_NULL: return "null";
    default: return "a boolean";
    }
}

int tokenizer_read_config(const char *path, bool *do_lower_case, pt_err *err)
{
    pt_err_clear(err);
    *do_lower_case = true;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return pt_fail(err, PT_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    json_error_t je;
    json_t *root = json_loadf(f, JSON_DECODE_ANY, &je);
    fclose(f);
    if (!root) {
        if (err)
            err->line = je.line;
        return pt_fail(err, PT_EFORMAT, "%s: line %d column %d: invalid JSON: %s", path, je.line, je.column,
                       je.text);
    }
    int rc = 0;
    json_t *v = json_object_get(root, "do_lower_case");
    if (!json_is_object(root))
        rc = pt_fail(err, PT_EFORMAT, "%s: expected a JSON object, found %s", path, json_kind(root));
    else if (v && !json_is_boolean(v)) {
        if (err)
            snprintf(err->field, sizeof err->field, "do_lower_case");
        rc = pt_fail(err, PT_EFORMAT, "%s: do_lower_case must be true or false, found %s", path, json_kind(v));
    } else if (v)
        *do_lower_case = json_is_true(v);
    json_decref(root);
    return rc;
}
