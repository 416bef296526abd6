/* Probes, service information, metrics and the API document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "embedded.h"

void route_healthz(http_req *r, void *arg)
{
    (void)arg;
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void route_readyz(http_req *r, void *arg)
{
    app *a = arg;
    pt_err err;
    pt_err_clear(&err);
    bool writable = store_check_writable(a->db, &err) == 0;
    bool draining = http_draining(a->http);
    json_t *checks = json_pack("{s:b, s:b, s:b}", "backbone_loaded", a->model != NULL, "database_writable", writable,
                               "draining", draining);
    if (a->model && writable && !draining) {
        http_reply_json(r, 200, json_pack("{s:s, s:o}", "status", "ready", "checks", checks));
        return;
    }
    http_reply_error(r, 503, draining ? "draining" : "not_ready", json_pack("{s:o}", "checks", checks), "%s",
                     draining ? "shutting down" : !writable ? err.msg : "the backbone is not loaded");
}

/* A backbone written by `ptune init-model` carries its origin in the safetensors metadata. */
static bool generated_backbone(const bert_model *m)
{
    return m->st.metadata_json && strstr(m->st.metadata_json, "init-model");
}

void route_info(http_req *r, void *arg)
{
    app *a = arg;
    const bert_model *m = a->model;
    const bert_config *c = &m->cfg;
    json_t *backbone = json_pack(
        "{s:s, s:s, s:s, s:b, s:I, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:i, s:b}", "name", m->name,
        "fingerprint", m->fingerprint, "dtype", m->dtype, "pretrained", !generated_backbone(m), "parameters",
        (json_int_t)m->n_params, "weights_bytes", (json_int_t)m->weights_bytes, "shape", "hidden_size",
        c->hidden_size, "num_layers", c->num_layers, "num_heads", c->num_heads, "intermediate_size",
        c->intermediate_size, "type_vocab_size", c->type_vocab_size, "vocab_size", c->vocab_size, "max_positions",
        c->max_position_embeddings, "do_lower_case", m->tok.do_lower_case);
    json_t *limits = json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "max_body",
                               (json_int_t)a->cfg.max_body, "max_batch_tokens", a->cfg.max_batch_tokens,
                               "max_client_batch", a->cfg.max_client_batch, "queue_limit", a->cfg.queue_limit,
                               "workers", a->cfg.workers, "threads", a->cfg.threads, "max_text_bytes", APP_MAX_TEXT,
                               "max_rows", TSV_MAX_ROWS, "max_row_bytes", TSV_MAX_LINE, "max_labels",
                               VERBALIZER_MAX_LABELS, "max_prompt_tokens", TEMPLATE_MAX_PROMPT);
    json_t *migrations = NULL;
    pt_err err;
    pt_err_clear(&err);
    if (store_migrations(a->db, &migrations, &err)) {
        json_decref(backbone);
        json_decref(limits);
        http_reply_err(r, &err);
        return;
    }
    json_t *auth = json_pack("{s:b, s:i, s:s}", "enabled", a->keys != NULL, "keys", auth_count(a->keys),
                             "your_scope", auth_scope_name(http_caller_scope(r)));
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:o}, s:I}", "service", "ptuned", "version",
                              PTUNED_VERSION, "backbone", backbone, "limits", limits, "auth", auth, "database",
                              "migrations", migrations, "uptime_seconds", (json_int_t)(time(NULL) - a->started)));
}

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4096;
}

void route_metrics(http_req *r, void *arg)
{
    app *a = arg;
    char *text = prom_render(a->metrics);
    long counts[5] = {0};
    pt_err err;
    int db_ok = store_task_counts(a->db, counts, &err) == 0;
    static const char *const states[5] = {"queued", "running", "succeeded", "failed", "cancelled"};
    char extra[2048];
    int n = snprintf(extra, sizeof extra,
                     "# HELP ptuned_build_info Version of the running daemon.\n# TYPE ptuned_build_info gauge\n"
                     "ptuned_build_info{version=\"%s\"} 1\n"
                     "# HELP ptuned_ready Whether /readyz would answer 200.\n# TYPE ptuned_ready gauge\n"
                     "ptuned_ready %d\n"
                     "# HELP ptuned_uptime_seconds Seconds since start.\n# TYPE ptuned_uptime_seconds gauge\n"
                     "ptuned_uptime_seconds %lld\n"
                     "# HELP ptuned_classify_queue_texts Texts waiting for a classification forward pass.\n"
                     "# TYPE ptuned_classify_queue_texts gauge\nptuned_classify_queue_texts %ld\n"
                     "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n"
                     "# HELP ptuned_tasks Tasks in the database by status.\n# TYPE ptuned_tasks gauge\n",
                     PTUNED_VERSION, db_ok && !http_draining(a->http), (long long)(time(NULL) - a->started),
                     batcher_queued(a->batch), resident_bytes());
    for (int i = 0; i < 5 && n > 0 && (size_t)n < sizeof extra; i++)
        n += snprintf(extra + n, sizeof extra - (size_t)n, "ptuned_tasks{status=\"%s\"} %ld\n", states[i], counts[i]);
    size_t len = text ? strlen(text) : 0;
    char *all = text ? realloc(text, len + strlen(extra) + 1) : NULL;
    if (!all) {
        free(text);
        http_reply_error(r, 503, "out_of_memory", NULL, "cannot render metrics right now");
        return;
    }
    strcpy(all + len, extra);
    http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", all, strlen(all));
    free(all);
}

void route_openapi(http_req *r, void *arg)
{
    (void)arg;
    http_reply_bytes(r, 200, "application/yaml", embedded_openapi[0].data, embedded_openapi[0].len);
}
