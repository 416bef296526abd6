#include "template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsv.h"

/* ---- verbalizer ---- */

void verbalizer_free(verbalizer *v)
{
    if (!v)
        return;
    for (int l = 0; l < v->n_labels; l++) {
        free(v->labels[l]);
        for (int w = 0; v->words && v->words[l] && w < v->n_words[l]; w++)
            free(v->words[l][w]);
        if (v->words)
            free(v->words[l]);
    }
    free(v->labels);
    free(v->n_words);
    free(v->words);
    memset(v, 0, sizeof *v);
}

int verbalizer_index(const verbalizer *v, const char *label)
{
    for (int l = 0; l < v->n_labels; l++)
        if (!strcmp(v->labels[l], label))
            return l;
    return -1;
}

/* Room for n labels; labels are then appended one at a time with add_label. */
static int verb_reserve(verbalizer *v, int n, pt_err *err)
{
    memset(v, 0, sizeof *v);
    if (n > VERBALIZER_MAX_LABELS)
        return pt_fail(err, PT_ELIMIT, "%d labels, more than the limit of %d labels per task", n,
                       VERBALIZER_MAX_LABELS);
    size_t k = n > 0 ? (size_t)n : 1;
    v->labels = calloc(k, sizeof *v->labels);
    v->n_words = calloc(k, sizeof *v->n_words);
    v->words = calloc(k, sizeof *v->words);
    if (!v->labels || !v->n_words || !v->words) {
        verbalizer_free(v);
        return pt_fail(err, PT_ENOMEM, "out of memory for a verbalizer of %d labels", n);
    }
    return 0;
}

/* Appends label with n_words (still NULL) word slots; the words are filled by the caller. */
static int add_label(verbalizer *v, const char *label, size_t len, int n_words, pt_err *err)
{
    int l = v->n_labels;
    v->labels[l] = strndup(label, len);
    v->words[l] = calloc((size_t)n_words, sizeof *v->words[l]);
    v->n_labels++; /* counted now so that verbalizer_free releases a partial label */
    if (!v->labels[l] || !v->words[l])
        return pt_fail(err, PT_ENOMEM, "out of memory for verbalizer label");
    v->n_words[l] = n_words;
    return 0;
}

static int set_word(verbalizer *v, int l, int w, const char *word, size_t len, pt_err *err)
{
    if (!(v->words[l][w] = strndup(word, len)))
        return pt_fail(err, PT_ENOMEM, "out of memory for verbalizer word");
    return 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s))
        (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int verbalizer_parse(verbalizer *v, const char *buf, size_t len, pt_err *err)
{
    memset(v, 0, sizeof *v);
    tsv_data d;
    int rc = tsv_parse(&d, buf, len, err);
    if (rc)
        return rc;
    if (d.n_rows == 0) {
        tsv_free(&d);
        return pt_fail(err, PT_EFORMAT, "verbalizer has no labels (expected lines label<TAB>word[,word...])");
    }
    if ((rc = verb_reserve(v, d.n_rows, err))) {
        tsv_free(&d);
        return rc;
    }
    for (int i = 0; i < d.n_rows && !rc; i++) {
        const tsv_row *r = &d.rows[i];
        if (verbalizer_index(v, r->label) >= 0) {
            rc = pt_fail(err, PT_EFORMAT, "line %ld: label \"%s\" appears twice", r->line, r->label);
            if (err)
                err->line = r->line;
            break;
        }
        int n_words = 1;
        for (const char *p = r->text; *p; p++)
            n_words += *p == ',';
        if ((rc = add_label(v, r->label, strlen(r->label), n_words, err)))
            break;
        const char *p = r->text;
        for (int w = 0; w < n_words && !rc; w++) {
            const char *comma = strchr(p, ',');
            size_t wl = comma ? (size_t)(comma - p) : strlen(p);
            const char *word = p;
            trim(&word, &wl);
            if (wl == 0) {
                rc = pt_fail(err, PT_EFORMAT, "line %ld: label \"%s\": empty label word (expected word[,word...])",
                             r->line, r->label);
                if (err)
                    err->line = r->line;
                break;
            }
            rc = set_word(v, v->n_labels - 1, w, word, wl, err);
            p = comma ? comma + 1 : p + wl;
        }
    }
    tsv_free(&d);
    if (rc)
        verbalizer_free(v);
    return rc;
}

int verbalizer_load(verbalizer *v, const char *path, pt_err *err)
{
    memset(v, 0, sizeof *v);
    char *buf;
    size_t len;
    int rc = tsv_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    if ((rc = verbalizer_parse(v, buf, len, err)))
        pt_err_prefix(err, "%s", path);
    free(buf);
    return rc;
}

static int json_fail(pt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int json_fail(pt_err *err, const char *fmt, ...)
{
    if (!err)
        return PT_EINVAL;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pt_fail(err, PT_EINVAL, "%s", msg); /* which keeps the message one line whatever the label holds */
    snprintf(err->field, sizeof err->field, "verbalizer");
    return PT_EINVAL;
}

int verbalizer_from_json(verbalizer *v, const json_t *obj, pt_err *err)
{
    memset(v, 0, sizeof *v);
    if (!json_is_object(obj))
        return json_fail(err, "verbalizer: expected an object label -> [word, ...]");
    if (json_object_size(obj) == 0)
        return json_fail(err, "verbalizer: expected at least one label");
    int rc = verb_reserve(v, (int)json_object_size(obj), err);
    if (rc)
        return rc;
    const char *label;
    json_t *words;
    /* json_object_foreach wants a non-const object; iteration does not modify it. */
    json_object_foreach((json_t *)obj, label, words) {
        if (!*label) {
            rc = json_fail(err, "verbalizer: empty label");
            break;
        }
        if (!json_is_array(words) || json_array_size(words) == 0) {
            rc = json_fail(err, "verbalizer: label \"%s\": expected a non-empty array of words", label);
            break;
        }
        if ((rc = add_label(v, label, strlen(label), (int)json_array_size(words), err)))
            break;
        size_t i;
        json_t *w;
        json_array_foreach(words, i, w) {
            const char *s = json_string_value(w);
            size_t len = s ? strlen(s) : 0;
            trim(&s, &len);
            if (!len) {
                rc = json_fail(err, "verbalizer: label \"%s\": every word must be a non-empty string", label);
                break;
            }
            if ((rc = set_word(v, v->n_labels - 1, (int)i, s, len, err)))
                break;
        }
        if (rc)
            break;
    }
    if (rc)
        verbalizer_free(v);
    return rc;
}

int verbalizer_from_labels(verbalizer *v, const char *const *labels, int n, pt_err *err)
{
    int rc = verb_reserve(v, n, err);
    for (int l = 0; l < n && !rc; l++) {
        if (verbalizer_index(v, labels[l]) >= 0)
            rc = pt_fail(err, PT_EINVAL, "label \"%s\" given twice", labels[l]);
        else if (!(rc = add_label(v, labels[l], strlen(labels[l]), 1, err)))
            rc = set_word(v, l, 0, labels[l], strlen(labels[l]), err);
    }
    if (rc)
        verbalizer_free(v);
    return rc;
}

int verbalizer_copy(verbalizer *dst, const verbalizer *src, pt_err *err)
{
    int rc = verb_reserve(dst, src->n_labels, err);
    for (int l = 0; l < src->n_labels && !rc; l++) {
        if ((rc = add_label(dst, src->labels[l], strlen(src->labels[l]), src->n_words[l], err)))
            break;
        for (int w = 0; w < src->n_words[l] && !rc; w++)
            rc = set_word(dst, l, w, src->words[l][w], strlen(src->words[l][w]), err);
    }
    if (rc)
        verbalizer_free(dst);
    return rc;
}

json_t *verbalizer_to_json(const verbalizer *v)
{
    json_t *o = json_object();
    for (int l = 0; o && l < v->n_labels; l++) {
        json_t *a = json_array();
        for (int w = 0; a && w < v->n_words[l]; w++)
            if (json_array_append_new(a, json_string(v->words[l][w]))) {
                json_decref(a);
                a = NULL;
            }
        if (!a || json_object_set_new(o, v->labels[l], a)) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

/* ---- template ---- */

void template_free(template_task *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_pieces; i++)
        free(t->pieces[i].ids);
    free(t->pieces);
    free(t->word_start);
    free(t->word_ids);
    free(t->prompt_ids);
    free(t);
}

static int tpl_fail(pt_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int tpl_fail(pt_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pt_fail(err, code, "template: %s", msg);
    snprintf(err->field, sizeof err->field, "template");
    return code;
}

static int push_piece(template_task *t, int *cap, template_piece p, pt_err *err)
{
    if (t->n_pieces == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        template_piece *np = realloc(t->pieces, (size_t)nc * sizeof *np);
        if (!np) {
            free(p.ids);
            return pt_fail(err, PT_ENOMEM, "out of memory for the template");
        }
        t->pieces = np;
        *cap = nc;
    }
    t->pieces[t->n_pieces++] = p;
    return 0;
}

/* Tokenizes literal text; whitespace-only text yields no piece. */
static int push_literal(template_task *t, int *cap, const tokenizer *tok, const char *s, size_t len, pt_err *err)
{
    if (!len)
        return 0;
    int32_t *ids;
    size_t n;
    int rc = tokenizer_encode(tok, s, len, &ids, &n, err);
    if (rc)
        return pt_err_prefix(err, "template literal text");
    if (!n) {
        free(ids);
        return 0;
    }
    template_piece p = {TPL_LITERAL, (int)n, ids};
    return push_piece(t, cap, p, err);
}

/* Reads the placeholder starting at src[i] == '{' into a piece; *used = its length through the '}'. */
static int parse_placeholder(template_task *t, int *cap, const char *src, size_t i, bool *seen_text,
                             bool *seen_mask, pt_err *err, size_t *used)
{
    const char *open = src + i, *close = strchr(open, '}');
    if (!close)
        return tpl_fail(err, PT_EINVAL, "'{' at byte %zu is never closed (expected {text}, {mask} or {prompt:N})", i);
    size_t len = (size_t)(close - open) + 1;
    *used = len;
    template_piece p = {TPL_TEXT, 0, NULL};
    if (len == 6 && !memcmp(open, "{text}", 6)) {
        if (*seen_text)
            return tpl_fail(err, PT_EINVAL, "{text} appears more than once");
        *seen_text = true;
    } else if (len == 6 && !memcmp(open, "{mask}", 6)) {
        if (*seen_mask)
            return tpl_fail(err, PT_EINVAL, "{mask} appears more than once");
        *seen_mask = true;
        p.kind = TPL_MASK;
    } else if (len > 9 && !memcmp(open, "{prompt:", 8)) {
        char *end;
        long n = strtol(open + 8, &end, 10);
        if (end != close || n < 1 || n > TEMPLATE_MAX_PROMPT || !isdigit((unsigned char)open[8]))
            return tpl_fail(err, PT_EINVAL, "%.*s at byte %zu: N in {prompt:N} must be an integer in 1..%d",
                            (int)len, open, i, TEMPLATE_MAX_PROMPT);
        if (t->n_prompt + n > TEMPLATE_MAX_PROMPT)
            return tpl_fail(err, PT_ELIMIT, "%.*s at byte %zu: more than the limit of %d prompt tokens in all",
                            (int)len, open, i, TEMPLATE_MAX_PROMPT);
        p.kind = TPL_PROMPT;
        p.n = (int)n;
        t->n_prompt += (int)n;
    } else {
        return tpl_fail(err, PT_EINVAL, "unknown placeholder %.*s at byte %zu (expected {text}, {mask} or {prompt:N})",
                        (int)(len > 40 ? 40 : len), open, i);
    }
    return push_piece(t, cap, p, err);
}

static int parse_template(template_task *t, const char *src, const tokenizer *tok, pt_err *err)
{
    int cap = 0, rc = 0;
    bool seen_text = false, seen_mask = false;
    size_t lit = 0, i = 0, n = strlen(src);
    while (i < n && !rc) {
        if (src[i] != '{') {
            i++;
            continue;
        }
        if ((rc = push_literal(t, &cap, tok, src + lit, i - lit, err)))
            break;
        size_t used = 0;
        rc = parse_placeholder(t, &cap, src, i, &seen_text, &seen_mask, err, &used);
        i += used;
        lit = i;
    }
    if (!rc)
        rc = push_literal(t, &cap, tok, src + lit, n - lit, err);
    if (rc)
        return rc;
    if (!seen_text)
        return tpl_fail(err, PT_EINVAL, "no {text} placeholder (where the input text goes)");
    if (!seen_mask)
        return tpl_fail(err, PT_EINVAL, "no {mask} placeholder (where the label word is predicted)");
    if (!t->n_prompt)
        return tpl_fail(err, PT_EINVAL, "no prompt tokens (add {prompt:N}, e.g. {mask}{prompt:8}{text})");
    return 0;
}

static int compile_words(template_task *t, const verbalizer *v, const tokenizer *tok, pt_err *err)
{
    int total = 0;
    for (int l = 0; l < v->n_labels; l++)
        total += v->n_words[l];
    int32_t **ids = calloc((size_t)total, sizeof *ids);
    size_t *lens = calloc((size_t)total, sizeof *lens);
    t->word_start = calloc((size_t)v->n_labels + 1, sizeof *t->word_start);
    int rc = (!ids || !lens || !t->word_start) ? pt_fail(err, PT_ENOMEM, "out of memory for label words") : 0;
    int k = 0;
    for (int l = 0; l < v->n_labels && !rc; l++) {
        t->word_start[l] = k;
        for (int w = 0; w < v->n_words[l] && !rc; w++, k++) {
            const char *word = v->words[l][w];
            if ((rc = tokenizer_encode(tok, word, strlen(word), &ids[k], &lens[k], err))) {
                pt_err_prefix(err, "verbalizer: label \"%s\", word \"%s\"", v->labels[l], word);
            } else if (lens[k] == 0 || lens[k] > TEMPLATE_MAX_MASK) {
                rc = pt_fail(err, PT_EINVAL, "verbalizer: label \"%s\", word \"%s\" has %zu tokens (expected 1..%d)",
                             v->labels[l], word, lens[k], TEMPLATE_MAX_MASK);
            } else if ((int)lens[k] > t->n_mask) {
                t->n_mask = (int)lens[k];
            }
        }
    }
    if (!rc) {
        t->word_start[v->n_labels] = total;
        t->n_labels = v->n_labels;
        t->word_ids = malloc((size_t)total * (size_t)t->n_mask * sizeof *t->word_ids);
        if (!t->word_ids)
            rc = pt_fail(err, PT_ENOMEM, "out of memory for label words");
    }
    for (int w = 0; w < total && !rc; w++) {
        if ((int)lens[w] < t->n_mask && t->pad_id < 0) {
            rc = pt_fail(err, PT_EINVAL, "the vocabulary has no [PAD] to pad label words to %d tokens", t->n_mask);
            break;
        }
        for (int m = 0; m < t->n_mask; m++)
            t->word_ids[(size_t)w * (size_t)t->n_mask + (size_t)m] = m < (int)lens[w] ? ids[w][m] : t->pad_id;
    }
    for (int w = 0; ids && w < total; w++)
        free(ids[w]);
    free(ids);
    free(lens);
    if (rc && err)
        snprintf(err->field, sizeof err->field, "verbalizer");
    return rc;
}

int template_compile(template_task **out, const char *src, const verbalizer *v, const tokenizer *tok,
                     int max_seq_len, pt_err *err)
{
    *out = NULL;
    if (v->n_labels < 1)
        return pt_fail(err, PT_EINVAL, "verbalizer has no labels");
    if (tok->cls_id < 0 || tok->sep_id < 0 || tok->mask_id < 0)
        return pt_fail(err, PT_EINVAL, "the vocabulary lacks [CLS], [SEP] or [MASK]");
    template_task *t = calloc(1, sizeof *t);
    if (!t)
        return pt_fail(err, PT_ENOMEM, "out of memory for the template");
    t->tok = tok;
    t->cls_id = tok->cls_id;
    t->sep_id = tok->sep_id;
    t->mask_id = tok->mask_id;
    t->pad_id = tok->pad_id;
    t->max_seq_len = max_seq_len;
    int rc = parse_template(t, src, tok, err);
    if (!rc)
        rc = compile_words(t, v, tok, err);
    if (!rc) {
        t->n_fixed = 2 + t->n_mask;
        for (int i = 0; i < t->n_pieces; i++)
            if (t->pieces[i].kind == TPL_PROMPT || t->pieces[i].kind == TPL_LITERAL)
                t->n_fixed += t->pieces[i].n;
        if (t->n_fixed >= max_seq_len)
            rc = tpl_fail(err, PT_EINVAL,
                          "needs %d tokens besides the text ([CLS], [SEP], %d [MASK], prompts, literal text), "
                          "leaving no room for text within max_seq_len %d",
                          t->n_fixed, t->n_mask, max_seq_len);
    }
    if (!rc && !(t->prompt_ids = malloc((size_t)t->n_prompt * sizeof *t->prompt_ids)))
        rc = pt_fail(err, PT_ENOMEM, "out of memory for the template");
    for (int k = 0; !rc && k < t->n_prompt; k++) {
        char name[32];
        snprintf(name, sizeof name, "[unused%d]", k + 1);
        int32_t id = vocab_id(tok->v, name, strlen(name));
        t->prompt_ids[k] = id >= 0 ? id : tok->unk_id;
    }
    if (rc) {
        template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void template_row_free(template_row *r)
{
    if (!r)
        return;
    free(r->ids);
    memset(r, 0, sizeof *r);
}

int template_encode(const template_task *t, const char *text, size_t len, template_row *r, pt_err *err)
{
    memset(r, 0, sizeof *r);
    int32_t *tids;
    size_t n;
    int rc = tokenizer_encode(t->tok, text, len, &tids, &n, err);
    if (rc)
        return rc;
    size_t room = (size_t)(t->max_seq_len - t->n_fixed);
    if (n > room) {
        r->truncated = (int)(n - room);
        n = room;
    }
    r->len = t->n_fixed + (int)n;
    int32_t *buf = malloc(((size_t)r->len + (size_t)t->n_prompt + (size_t)t->n_mask) * sizeof *buf);
    if (!buf) {
        free(tids);
        return pt_fail(err, PT_ENOMEM, "out of memory for a row of %d tokens", r->len);
    }
    r->ids = buf;
    r->prompt_pos = buf + r->len;
    r->mask_pos = r->prompt_pos + t->n_prompt;
    int pos = 0, np = 0;
    buf[pos++] = t->cls_id;
    for (int i = 0; i < t->n_pieces; i++) {
        const template_piece *p = &t->pieces[i];
        switch (p->kind) {
        case TPL_TEXT:
            memcpy(buf + pos, tids, n * sizeof *buf);
            pos += (int)n;
            break;
        case TPL_MASK:
            for (int m = 0; m < t->n_mask; m++) {
                r->mask_pos[m] = pos;
                buf[pos++] = t->mask_id;
            }
            break;
        case TPL_PROMPT:
            for (int k = 0; k < p->n; k++, np++) {
                r->prompt_pos[np] = pos;
                buf[pos++] = t->prompt_ids[np];
            }
            break;
        case TPL_LITERAL:
            memcpy(buf + pos, p->ids, (size_t)p->n * sizeof *buf);
            pos += p->n;
            break;
        }
    }
    buf[pos++] = t->sep_id;
    free(tids);
    return 0;
}

void template_row_bert(const template_task *t, const template_row *r, const float *prompt_vec, bert_row *out)
{
    memset(out, 0, sizeof *out);
    out->ids = r->ids;
    out->len = r->len;
    out->type_ids = NULL;
    out->prompt_pos = r->prompt_pos;
    out->prompt_vec = prompt_vec;
    out->n_prompt = prompt_vec ? t->n_prompt : 0;
    out->mask_pos = r->mask_pos;
    out->n_mask = t->n_mask;
}

void template_score(const template_task *t, const float *logits, int vocab_size, float *scores, int *best_word)
{
    double lse[TEMPLATE_MAX_MASK];
    for (int m = 0; m < t->n_mask; m++) {
        const float *x = logits + (size_t)m * (size_t)vocab_size;
        float mx = x[0];
        for (int v = 1; v < vocab_size; v++)
            if (x[v] > mx)
                mx = x[v];
        double s = 0;
        for (int v = 0; v < vocab_size; v++)
            s += exp((double)x[v] - mx);
        lse[m] = mx + log(s);
    }
    for (int l = 0; l < t->n_labels; l++) {
        double best = -INFINITY;
        int arg = 0;
        for (int w = t->word_start[l]; w < t->word_start[l + 1]; w++) {
            const int32_t *ids = t->word_ids + (size_t)w * (size_t)t->n_mask;
            double s = 0;
            for (int m = 0; m < t->n_mask; m++)
                s += logits[(size_t)m * (size_t)vocab_size + (size_t)ids[m]] - lse[m];
            if (s > best) {
                best = s;
                arg = w - t->word_start[l];
            }
        }
        scores[l] = (float)best;
        if (best_word)
            best_word[l] = arg;
    }
}

void template_softmax(float *scores, int n)
{
    float mx = scores[0];
    for (int i = 1; i < n; i++)
        if (scores[i] > mx)
            mx = scores[i];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)scores[i] - mx);
    for (int i = 0; i < n; i++)
        scores[i] = (float)(exp((double)scores[i] - mx) / sum);
}
