/* Tasks: training requests, their progress and results, and the adapter artefact (export / import). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "sha256.h"
#include "tar.h"
#include "template.h"
#include "train.h"

/* The request keys that are not training configuration. */
static const char *const own_keys[] = {"name", "train_dataset", "train_tsv", "dev_dataset", "dev_tsv"};

static bool is_own_key(const char *k)
{
    for (size_t i = 0; i < sizeof own_keys / sizeof own_keys[0]; i++)
        if (!strcmp(k, own_keys[i]))
            return true;
    return false;
}

/* One dataset side (train or dev) of a task request: an id, an inline TSV, or nothing. */
typedef struct side {
    const char *id_key, *tsv_key;
    int64_t id;
    tsv_data tsv;
    bool inline_rows;
    store_row *rows;
    char name[APP_NAME_MAX + 16];
    char sha[65];
} side;

static bool read_side(http_req *r, json_t *body, side *s, bool required)
{
    json_t *id = json_object_get(body, s->id_key), *tsv = json_object_get(body, s->tsv_key);
    if (id && tsv) {
        http_reply_error(r, 422, "invalid_value", json_pack("{s:s}", "field", s->tsv_key),
                         "give %s or %s, not both", s->id_key, s->tsv_key);
        return false;
    }
    if (!id && !tsv) {
        if (required)
            http_reply_error(r, 422, "missing_field", json_pack("{s:s}", "field", s->id_key),
                             "%s (a dataset id) or %s (TSV text) is required", s->id_key, s->tsv_key);
        return !required;
    }
    if (id) {
        if (!json_is_integer(id) || json_integer_value(id) <= 0) {
            http_reply_error(r, 422, "wrong_type", json_pack("{s:s}", "field", s->id_key),
                             "%s must be a positive integer (a dataset id)", s->id_key);
            return false;
        }
        s->id = json_integer_value(id);
        return true;
    }
    if (!json_is_string(tsv)) {
        http_reply_error(r, 422, "wrong_type", json_pack("{s:s}", "field", s->tsv_key),
                         "%s must be a string of label<TAB>text lines", s->tsv_key);
        return false;
    }
    if (app_parse_tsv(r, s->tsv_key, json_string_value(tsv), json_string_length(tsv), &s->tsv))
        return false;
    s->inline_rows = true;
    sha256_hex(json_string_value(tsv), json_string_length(tsv), s->sha);
    s->rows = malloc((size_t)s->tsv.n_rows * sizeof *s->rows);
    for (int i = 0; s->rows && i < s->tsv.n_rows; i++)
        s->rows[i] = (store_row){s->tsv.rows[i].label, s->tsv.rows[i].text, s->tsv.rows[i].line};
    if (!s->rows) {
        http_reply_error(r, 503, "out_of_memory", NULL, "cannot hold the rows right now");
        return false;
    }
    return true;
}

static void free_side(side *s)
{
    if (s->inline_rows)
        tsv_free(&s->tsv);
    free(s->rows);
}

/* The training labels with, for inline rows, the first line of each. */
static json_t *train_labels(http_req *r, app *a, side *t)
{
    if (!t->inline_rows) {
        json_t *d;
        pt_err err;
        pt_err_clear(&err);
        int rc = store_dataset_get(a->db, t->id, &d, &err);
        if (rc == PT_ENOTFOUND) {
            http_reply_error(r, 422, "unknown_dataset", json_pack("{s:s}", "field", t->id_key), "%s", err.msg);
            return NULL;
        }
        if (rc) {
            http_reply_err(r, &err);
            return NULL;
        }
        json_t *labels = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(d, "labels"), k, v)
            json_object_set_new(labels, k, json_integer(0));
        json_decref(d);
        return labels;
    }
    json_t *labels = json_object();
    for (int i = 0; i < t->tsv.n_rows; i++)
        if (!json_object_get(labels, t->tsv.rows[i].label))
            json_object_set_new(labels, t->tsv.rows[i].label, json_integer(t->tsv.rows[i].line));
    return labels;
}

/* The verbalizer (given, or the training labels as their own words) must cover every training label and
 * compile with the template against the backbone's tokenizer. */
static bool check_against_model(http_req *r, app *a, train_config *cfg, side *t)
{
    if (cfg->max_seq_len > a->model->cfg.max_position_embeddings) {
        http_reply_error(r, 422, "invalid_config", json_pack("{s:s}", "field", "max_seq_len"),
                         "max_seq_len %d is above the backbone's %d positions", cfg->max_seq_len,
                         a->model->cfg.max_position_embeddings);
        return false;
    }
    json_t *labels = train_labels(r, a, t);
    if (!labels)
        return false;
    pt_err err;
    pt_err_clear(&err);
    verbalizer verb;
    memset(&verb, 0, sizeof verb);
    int rc = 0;
    if (cfg->verb.n_labels) {
        rc = verbalizer_copy(&verb, &cfg->verb, &err);
    } else {
        const char **names = calloc(json_object_size(labels) + 1, sizeof *names);
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) names[n++] = k;
        rc = names ? verbalizer_from_labels(&verb, names, (int)n, &err) : pt_fail(&err, PT_ENOMEM, "out of memory");
        free(names);
    }
    const char *k;
    json_t *line;
    bool ok = rc == 0;
    json_object_foreach(labels, k, line) {
        if (ok && verbalizer_index(&verb, k) < 0) {
            json_t *d = json_pack("{s:s, s:s}", "field", t->inline_rows ? t->tsv_key : t->id_key, "label", k);
            if (json_integer_value(line) > 0)
                json_object_set_new(d, "line", json_incref(line));
            http_reply_error(r, 422, "unknown_label", d, "training label '%s' is not in the verbalizer", k);
            ok = false;
        }
    }
    template_task *tpl = NULL;
    if (ok && (rc = template_compile(&tpl, cfg->template_src ? cfg->template_src : TEMPLATE_DEFAULT, &verb, &a->model->tok, cfg->max_seq_len, &err)))
        ok = false;
    if (rc) {
        json_t *d = json_pack("{s:s}", "field", err.field[0] ? err.field : "template");
        http_reply_error(r, 422, "invalid_config", d, "%s", err.msg);
    }
    template_free(tpl);
    verbalizer_free(&verb);
    json_decref(labels);
    return ok;
}

static void reply_task(http_req *r, app *a, int64_t id, int status)
{
    json_t *t;
    pt_err err;
    pt_err_clear(&err);
    if (store_task_get(a->db, id, &t, &err)) {
        http_reply_err(r, &err);
        return;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/tasks/%lld", (long long)id);
    if (status != 200)
        http_set_header(r, "Location", loc);
    http_reply_json(r, status, t);
}

static bool parse_config(http_req *r, json_t *body, train_config *cfg)
{
    json_t *given = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) if (!is_own_key(k)) json_object_set(given, k, v);
    pt_err err;
    pt_err_clear(&err);
    int rc = train_config_parse(cfg, given, &err);
    json_decref(given);
    if (rc)
        http_reply_error(r, 422, "invalid_config", err.field[0] ? json_pack("{s:s}", "field", err.field) : NULL,
                         "%s", err.msg);
    return rc == 0;
}

void route_task_create(http_req *r, void *arg)
{
    app *a = arg;
    json_t *body = http_json_body(r);
    if (!body)
        return;
    side train = {.id_key = "train_dataset", .tsv_key = "train_tsv"};
    side dev = {.id_key = "dev_dataset", .tsv_key = "dev_tsv"};
    train_config cfg;
    train_config_init(&cfg);
    json_t *name = json_object_get(body, "name");
    bool ok = true;
    if (!name) {
        http_reply_error(r, 422, "missing_field", json_pack("{s:s}", "field", "name"), "name is required");
        ok = false;
    } else if (!json_is_string(name) || !app_valid_name(json_string_value(name))) {
        http_reply_error(r, 422, json_is_string(name) ? "invalid_value" : "wrong_type",
                         json_pack("{s:s}", "field", "name"), "name must be a string of 1 to %d bytes",
                         APP_NAME_MAX);
        ok = false;
    }
    ok = ok && parse_config(r, body, &cfg) && read_side(r, body, &train, true) && read_side(r, body, &dev, false) &&
         check_against_model(r, a, &cfg, &train);
    char *config_text = NULL;
    if (ok) {
        json_t *resolved = train_config_to_json(&cfg);
        config_text = resolved ? json_dumps(resolved, JSON_COMPACT) : NULL;
        json_decref(resolved);
    }
    if (ok) {
        const char *n = json_string_value(name);
        snprintf(train.name, sizeof train.name, "%s (train)", n);
        snprintf(dev.name, sizeof dev.name, "%s (dev)", n);
        store_dataset_src ts = {.id = train.id, .name = train.name, .sha256 = train.sha, .rows = train.rows,
                                .n_rows = train.inline_rows ? train.tsv.n_rows : 0};
        store_dataset_src ds = {.id = dev.id, .name = dev.name, .sha256 = dev.sha, .rows = dev.rows,
                                .n_rows = dev.inline_rows ? dev.tsv.n_rows : 0};
        int64_t id = 0;
        pt_err err;
        pt_err_clear(&err);
        int rc = config_text ? store_task_insert(a->db, n, &ts, &ds, config_text, &id, &err)
                             : pt_fail(&err, PT_ENOMEM, "out of memory");
        if (rc == PT_ENOTFOUND)
            http_reply_error(r, 422, "unknown_dataset", json_pack("{s:s}", "field", err.field), "%s", err.msg);
        else if (rc)
            http_reply_err(r, &err);
        else {
            jobs_notify(a->jobs);
            reply_task(r, a, id, 202);
        }
    }
    free(config_text);
    free_side(&train);
    free_side(&dev);
    train_config_free(&cfg);
    json_decref(body);
}

void route_task_list(http_req *r, void *arg)
{
    app *a = arg;
    const char *status = http_query(r, "status"), *name = http_query(r, "name");
    static const char *const states[] = {STORE_QUEUED, STORE_RUNNING, STORE_SUCCEEDED, STORE_FAILED, STORE_CANCELLED};
    bool known = !status;
    for (size_t i = 0; !known && i < sizeof states / sizeof states[0]; i++)
        known = !strcmp(status, states[i]);
    if (!known) {
        http_reply_error(r, 422, "invalid_value", json_pack("{s:s}", "field", "status"),
                         "status must be queued, running, succeeded, failed or cancelled");
        return;
    }
    json_t *list;
    pt_err err;
    pt_err_clear(&err);
    if (store_task_list(a->db, status, name, &list, &err))
        http_reply_err(r, &err);
    else
        http_reply_json(r, 200, json_pack("{s:o}", "tasks", list));
}

void route_task_get(http_req *r, void *arg)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        reply_task(r, arg, id, 200);
}

void route_task_cancel(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    char now[16];
    pt_err err;
    pt_err_clear(&err);
    if (!http_param_id(r, "id", &id))
        return;
    int rc = store_task_cancel(a->db, id, now, &err);
    if (rc == PT_ECONFLICT) {
        http_reply_error(r, 409, "task_finished", NULL, "%s", err.msg);
        return;
    }
    if (rc) {
        http_reply_err(r, &err);
        return;
    }
    bool running = !strcmp(now, STORE_RUNNING);
    if (running)
        jobs_cancel(a->jobs, id);
    /* 202: a running job stops at its next step; 200: a queued task is cancelled already. */
    json_t *t;
    if (store_task_get(a->db, id, &t, &err))
        http_reply_err(r, &err);
    else
        http_reply_json(r, running ? 202 : 200, t);
}

void route_task_delete(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    pt_err err;
    pt_err_clear(&err);
    if (!http_param_id(r, "id", &id))
        return;
    int rc = store_task_delete(a->db, id, &err);
    if (rc == PT_ECONFLICT) {
        http_reply_error(r, 409, "task_running", NULL, "%s", err.msg);
        return;
    }
    if (rc) {
        http_reply_err(r, &err);
        return;
    }
    prompts_evict(a->cache, id);
    http_reply_bytes(r, 204, "application/json", "", 0);
}

/* 404 for an unknown task, 409 `task_not_ready` unless it has succeeded. */
bool app_task_ready(http_req *r, app *a, int64_t id)
{
    char status[16];
    pt_err err;
    pt_err_clear(&err);
    if (store_task_status(a->db, id, status, &err)) {
        http_reply_err(r, &err);
        return false;
    }
    if (strcmp(status, STORE_SUCCEEDED)) {
        http_reply_error(r, 409, "task_not_ready", json_pack("{s:s}", "status", status),
                         "task %lld is %s, not succeeded", (long long)id, status);
        return false;
    }
    return true;
}

void route_task_adapter(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    if (!http_param_id(r, "id", &id) || !app_task_ready(r, a, id))
        return;
    store_prompt sp;
    adapter ad;
    memset(&ad, 0, sizeof ad);
    adapter_files f = {0};
    void *tar = NULL;
    size_t tar_len = 0;
    pt_err err;
    pt_err_clear(&err);
    int rc = store_prompt_get(a->db, id, &sp, &err);
    if (!rc) {
        rc = prompts_to_adapter(&sp, &ad, &err);
        store_prompt_free(&sp);
    }
    if (!rc)
        rc = adapter_serialize(&ad, &f, &err);
    if (!rc) {
        tar_entry e[3] = {{ADAPTER_MODEL_FILE, f.model, f.model_len},
                          {ADAPTER_CONFIG_FILE, f.config, f.config_len},
                          {ADAPTER_PTUNE_FILE, f.ptune, f.ptune_len}};
        rc = tar_write(e, 3, (int64_t)time(NULL), &tar, &tar_len, &err);
    }
    if (rc) {
        http_reply_err(r, &err);
    } else {
        char disp[96];
        snprintf(disp, sizeof disp, "attachment; filename=\"task-%lld.tar\"", (long long)id);
        http_set_header(r, "Content-Disposition", disp);
        http_reply_bytes(r, 200, "application/x-tar", tar, tar_len);
    }
    free(tar);
    adapter_files_free(&f);
    adapter_free(&ad);
}

/* The three files of an export from a tar body; replies 400 `invalid_archive` on failure. */
static bool archive_files(http_req *r, adapter_files *f)
{
    size_t len;
    const char *body = http_body(r, &len);
    tar_entry e[TAR_MAX_ENTRIES];
    int n;
    pt_err err;
    pt_err_clear(&err);
    if (tar_read(body, len, e, &n, &err)) {
        http_reply_error(r, 400, "invalid_archive", json_pack("{s:I}", "offset", (json_int_t)err.offset), "%s",
                         err.msg);
        return false;
    }
    static const char *const names[3] = {ADAPTER_MODEL_FILE, ADAPTER_CONFIG_FILE, ADAPTER_PTUNE_FILE};
    const tar_entry *got[3];
    for (int i = 0; i < 3; i++)
        if (!(got[i] = tar_find(e, n, names[i]))) {
            http_reply_error(r, 400, "invalid_archive", json_pack("{s:s}", "file", names[i]),
                             "the archive has no %s (expected the three files of an export)", names[i]);
            return false;
        }
    /* adapter_deserialize only reads the buffers: they may point into the body. */
    f->model = (void *)got[0]->data;
    f->model_len = got[0]->len;
    f->config = (char *)got[1]->data;
    f->config_len = got[1]->len;
    f->ptune = (char *)got[2]->data;
    f->ptune_len = got[2]->len;
    return true;
}

static int store_import(app *a, const char *name, const adapter *ad, int64_t *id, pt_err *err)
{
    store_prompt sp;
    int rc = prompts_from_adapter(ad, &sp, err);
    if (rc)
        return rc;
    json_t *cfg = train_config_to_json(&ad->cfg);
    json_t *summary = json_pack("{s:O, s:b}", "dev", ad->metrics, "imported", 1);
    char *cfg_text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    char *m_text = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
    char *c_text = json_dumps(ad->curve, JSON_COMPACT);
    rc = cfg_text && m_text && c_text ? store_task_import(a->db, name, cfg_text, &sp, m_text, c_text, id, err)
                                      : pt_fail(err, PT_ENOMEM, "out of memory");
    free(cfg_text);
    free(m_text);
    free(c_text);
    json_decref(cfg);
    json_decref(summary);
    store_prompt_free(&sp);
    return rc;
}

void route_task_import(http_req *r, void *arg)
{
    app *a = arg;
    const char *name = http_query(r, "name");
    if (!name)
        name = "imported";
    if (!app_valid_name(name)) {
        http_reply_error(r, 422, "invalid_value", json_pack("{s:s}", "field", "name"),
                         "name must be 1 to %d bytes of UTF-8 without control characters", APP_NAME_MAX);
        return;
    }
    adapter_files f;
    if (!archive_files(r, &f))
        return;
    adapter ad;
    memset(&ad, 0, sizeof ad);
    classify_task *check = NULL;
    pt_err err;
    pt_err_clear(&err);
    int64_t id;
    int rc = adapter_deserialize(&ad, &f, &err);
    if (rc) {
        http_reply_error(r, 422, "invalid_adapter", NULL, "%s", err.msg);
    } else if ((rc = adapter_check_backbone(&ad, a->model, &err))) {
        http_reply_error(r, 409, "fingerprint_mismatch", json_pack("{s:s}", "backbone", a->model->fingerprint), "%s",
                         err.msg);
    } else if ((rc = classify_task_new(&check, a->model, &ad, &err))) {
        http_reply_error(r, 422, "invalid_adapter", NULL, "%s", err.msg);
    } else if ((rc = store_import(a, name, &ad, &id, &err))) {
        http_reply_err(r, &err);
    } else {
        reply_task(r, a, id, 201);
    }
    classify_task_free(check);
    adapter_free(&ad);
}
