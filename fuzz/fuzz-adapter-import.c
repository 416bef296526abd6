/* Fuzzes POST /tasks/import as the daemon runs it, minus the database: tar_read of the body, the
 * three files found by name, adapter_deserialize, the backbone check against the fuzz model and, when
 * the archive is for that model, classify_task_new and one classification. Promises checked: every tar
 * entry lies inside the archive with a safe unique name and writes back (tar_write) to the same
 * entries; an accepted adapter serializes and deserializes to the same vectors and config; the
 * classification gives probabilities that sum to 1. */
#include "adapter.h"
#include "bert.h"
#include "classify.h"
#include "fuzz.h"
#include "tar.h"

#include <math.h>

static bert_model *model;
static bert_ws *ws;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pt_err err;
    if (bert_load(&model, FUZZ_SRC_DIR "/model", &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    ws = bert_ws_new();
    FUZZ_CHECK(ws != NULL);
    return 0;
}

static void check_entries(const uint8_t *buf, size_t len, const tar_entry *e, int n)
{
    FUZZ_CHECK(n >= 0 && n <= TAR_MAX_ENTRIES);
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        FUZZ_CHECK(nl > 0 && nl <= TAR_NAME_MAX && e[i].name[0] != '/');
        FUZZ_CHECK(strcmp(e[i].name, "..") && strncmp(e[i].name, "../", 3) && !strstr(e[i].name, "/../") &&
                   (nl < 3 || strcmp(e[i].name + nl - 3, "/..")));
        FUZZ_CHECK(e[i].len == 0 || ((const uint8_t *)e[i].data >= buf && (const uint8_t *)e[i].data + e[i].len <= buf + len));
        FUZZ_CHECK(tar_find(e, n, e[i].name) == &e[i]);
    }
}

/* What the reader accepted, the writer writes back to the same entries (names that fit ustar's 100). */
static void check_rewrite(const tar_entry *e, int n)
{
    for (int i = 0; i < n; i++)
        if (strlen(e[i].name) > 100)
            return;
    void *out;
    size_t out_len;
    pt_err err;
    FUZZ_CHECK(tar_write(e, n, 0, &out, &out_len, &err) == 0);
    tar_entry back[TAR_MAX_ENTRIES];
    int nb;
    FUZZ_CHECK(tar_read(out, out_len, back, &nb, &err) == 0 && nb == n);
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(!strcmp(back[i].name, e[i].name) && back[i].len == e[i].len &&
                   (e[i].len == 0 || !memcmp(back[i].data, e[i].data, e[i].len)));
    free(out);
}

static void check_serialize(const adapter *a)
{
    adapter_files f;
    adapter b;
    pt_err err;
    FUZZ_CHECK(adapter_serialize(a, &f, &err) == 0);
    FUZZ_CHECK(adapter_deserialize(&b, &f, &err) == 0);
    FUZZ_CHECK(b.n_prompt == a->n_prompt && b.hidden == a->hidden && !strcmp(b.fingerprint, a->fingerprint));
    FUZZ_CHECK(!memcmp(b.vectors, a->vectors, (size_t)a->n_prompt * (size_t)a->hidden * sizeof *a->vectors));
    json_t *ja = train_config_to_json(&a->cfg), *jb = train_config_to_json(&b.cfg);
    FUZZ_CHECK(json_equal(ja, jb));
    json_decref(ja);
    json_decref(jb);
    adapter_free(&b);
    adapter_files_free(&f);
}

static void check_classify(const adapter *a)
{
    classify_task *t;
    pt_err err;
    pt_err_clear(&err);
    int rc = classify_task_new(&t, model, a, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        return;
    }
    const char *text[] = {"很好的东西"};
    float *probs = malloc((size_t)t->tpl->n_labels * sizeof *probs);
    FUZZ_CHECK(probs != NULL);
    FUZZ_CHECK(classify_texts(model, ws, t->tpl, t->vectors, text, NULL, 1, probs, NULL, &err) == 0);
    double sum = 0;
    for (int l = 0; l < t->tpl->n_labels; l++)
        sum += probs[l];
    /* NaN prompt vectors would make NaN probabilities: they must not get this far. */
    FUZZ_CHECK(fabs(sum - 1) < 1e-3);
    free(probs);
    classify_task_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tar_entry e[TAR_MAX_ENTRIES];
    int n = 0;
    pt_err err;
    pt_err_clear(&err);
    int rc = tar_read(data, size, e, &n, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        return 0;
    }
    check_entries(data, size, e, n);
    check_rewrite(e, n);
    const tar_entry *m = tar_find(e, n, ADAPTER_MODEL_FILE), *c = tar_find(e, n, ADAPTER_CONFIG_FILE),
                    *p = tar_find(e, n, ADAPTER_PTUNE_FILE);
    if (!m || !c || !p)
        return 0;
    adapter_files f = {(void *)m->data, m->len, (char *)c->data, c->len, (char *)p->data, p->len};
    adapter a;
    memset(&a, 0, sizeof a);
    rc = adapter_deserialize(&a, &f, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        adapter_free(&a);
        return 0;
    }
    FUZZ_CHECK(a.n_prompt >= 1 && a.hidden >= 1 && a.vectors != NULL);
    check_serialize(&a);
    rc = adapter_check_backbone(&a, model, &err);
    if (rc)
        fuzz_check_err(rc, &err);
    else
        check_classify(&a);
    adapter_free(&a);
    return 0;
}
