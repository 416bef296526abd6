/* Classification: texts -> labels through a task's learned prompt, via the batcher. */
#include <stdlib.h>
#include <string.h>

#include "app.h"

typedef struct classify_req {
    json_t *texts; /* array of strings (borrowed from the body, or built from "text") */
    int top_k;     /* 0 = every label */
} classify_req;

static bool bad(http_req *r, int status, const char *code, const char *field, const char *msg)
{
    http_reply_error(r, status, code, field ? json_pack("{s:s}", "field", field) : NULL, "%s", msg);
    return false;
}

static bool parse_request(http_req *r, app *a, json_t *body, classify_req *c)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) if (strcmp(k, "task") && strcmp(k, "text") && strcmp(k, "texts") &&
                                        strcmp(k, "top_k")) {
        http_reply_error(r, 422, "unknown_field", json_pack("{s:s}", "field", k),
                         "unknown key '%s' (expected task, text or texts, top_k)", k);
        return false;
    }
    json_t *text = json_object_get(body, "text"), *texts = json_object_get(body, "texts");
    json_t *top_k = json_object_get(body, "top_k");
    if (text && texts)
        return bad(r, 422, "invalid_value", "texts", "give text or texts, not both");
    if (!text && !texts)
        return bad(r, 422, "missing_field", "texts", "text (a string) or texts (an array of strings) is required");
    if (text && !json_is_string(text))
        return bad(r, 422, "wrong_type", "text", "text must be a string");
    if (texts && !json_is_array(texts))
        return bad(r, 422, "wrong_type", "texts", "texts must be an array of strings");
    if (texts && json_array_size(texts) == 0)
        return bad(r, 422, "invalid_value", "texts", "texts is empty");
    if (texts && json_array_size(texts) > (size_t)a->cfg.max_client_batch) {
        http_reply_error(r, 422, "too_many_texts", json_pack("{s:s, s:i}", "field", "texts", "max", a->cfg.max_client_batch),
                         "%zu texts in one call; the limit is %d", json_array_size(texts), a->cfg.max_client_batch);
        return false;
    }
    size_t i;
    json_array_foreach(texts, i, v) if (!json_is_string(v) || json_string_length(v) > APP_MAX_TEXT) {
        char field[32];
        snprintf(field, sizeof field, "texts[%zu]", i);
        if (json_is_string(v)) {
            http_reply_error(r, 422, "text_too_long", json_pack("{s:s, s:i}", "field", field, "max", APP_MAX_TEXT),
                             "%s has %zu bytes; the limit is %d", field, json_string_length(v), APP_MAX_TEXT);
            return false;
        }
        return bad(r, 422, "wrong_type", field, "every element of texts must be a string");
    }
    if (text && json_string_length(text) > APP_MAX_TEXT) {
        http_reply_error(r, 422, "text_too_long", json_pack("{s:s, s:i}", "field", "text", "max", APP_MAX_TEXT),
                         "text has %zu bytes; the limit is %d", json_string_length(text), APP_MAX_TEXT);
        return false;
    }
    if (top_k && (!json_is_integer(top_k) || json_integer_value(top_k) < 1 || json_integer_value(top_k) > 1000))
        return bad(r, 422, json_is_integer(top_k) ? "invalid_value" : "wrong_type", "top_k",
                   "top_k must be an integer from 1");
    c->top_k = top_k ? (int)json_integer_value(top_k) : 0;
    c->texts = texts ? json_incref(texts) : json_pack("[O]", text);
    return true;
}

/* task: an id, or a name (its newest succeeded task). */
static bool resolve_task(http_req *r, app *a, json_t *task, int64_t *id)
{
    if (!task)
        return bad(r, 422, "missing_field", "task", "task (an id or a name) is required");
    pt_err err;
    pt_err_clear(&err);
    if (json_is_integer(task)) {
        *id = json_integer_value(task);
        if (*id <= 0)
            return bad(r, 404, "not_found", "task", "no task has this id");
        return app_task_ready(r, a, *id);
    }
    if (!json_is_string(task))
        return bad(r, 422, "wrong_type", "task", "task must be an id (integer) or a name (string)");
    int rc = store_task_resolve(a->db, json_string_value(task), id, &err);
    if (rc == PT_ECONFLICT)
        return bad(r, 409, "task_not_ready", "task", err.msg);
    if (rc) {
        http_reply_err(r, &err);
        return false;
    }
    return true;
}

static json_t *result_json(const classify_task *t, const float *probs, int top_k)
{
    int n = t->tpl->n_labels;
    int *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return NULL;
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* Highest first; ties keep the verbalizer's order (as the CLI's argmax does). */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && probs[order[j]] > probs[order[j - 1]]; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    int k = top_k && top_k < n ? top_k : n;
    json_t *top = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(top, json_pack("{s:s, s:f}", "label", t->verb.labels[order[i]], "score",
                                             (double)probs[order[i]]));
    json_t *res = json_pack("{s:s, s:f, s:o}", "label", t->verb.labels[order[0]], "score", (double)probs[order[0]],
                            "top", top);
    free(order);
    return res;
}

static void classify(http_req *r, app *a, int64_t id, const classify_req *c)
{
    const classify_task *t;
    pt_err err;
    pt_err_clear(&err);
    int rc = prompts_acquire(a->cache, id, &t, &err);
    if (rc == PT_EMISMATCH) {
        http_reply_error(r, 409, "fingerprint_mismatch", NULL, "%s", err.msg);
        return;
    }
    if (rc) {
        http_reply_err(r, &err);
        return;
    }
    int n = (int)json_array_size(c->texts), encoded = 0;
    template_row *rows = calloc((size_t)n, sizeof *rows);
    float *probs = malloc((size_t)n * (size_t)t->tpl->n_labels * sizeof *probs + 1);
    rc = rows && probs ? 0 : pt_fail(&err, PT_ENOMEM, "out of memory");
    for (; !rc && encoded < n; encoded++) {
        json_t *s = json_array_get(c->texts, (size_t)encoded);
        if ((rc = template_encode(t->tpl, json_string_value(s), json_string_length(s), &rows[encoded], &err)))
            snprintf(err.field, sizeof err.field, "texts[%d]", encoded);
    }
    if (!rc)
        rc = batcher_classify(a->batch, t, rows, n, probs, &err);
    if (rc == PT_ELIMIT) {
        http_set_header(r, "Retry-After", "1");
        http_reply_error(r, 429, "queue_full", NULL, "%s", err.msg);
    } else if (rc) {
        http_reply_err(r, &err);
    } else {
        json_t *results = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(results, result_json(t, probs + (size_t)i * (size_t)t->tpl->n_labels, c->top_k));
        http_reply_json(r, 200, json_pack("{s:I, s:o}", "task", (json_int_t)id, "results", results));
    }
    for (int i = 0; rows && i < encoded; i++)
        template_row_free(&rows[i]);
    free(rows);
    free(probs);
    prompts_release(a->cache, t);
}

void route_classify(http_req *r, void *arg)
{
    app *a = arg;
    json_t *body = http_json_body(r);
    if (!body)
        return;
    classify_req c = {0};
    int64_t id;
    if (parse_request(r, a, body, &c) && resolve_task(r, a, json_object_get(body, "task"), &id))
        classify(r, a, id, &c);
    json_decref(c.texts);
    json_decref(body);
}
