/* Datasets: labeled TSV uploads, stored row by row. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "multipart.h"
#include "sha256.h"

#define ROWS_PAGE_MAX 1000

int app_parse_tsv(http_req *r, const char *field, const char *buf, size_t len, tsv_data *out)
{
    pt_err err;
    pt_err_clear(&err);
    if (tsv_parse(out, buf, len, &err) == 0 && out->n_rows > 0)
        return 0;
    if (!err.code) {
        tsv_free(out);
        pt_fail(&err, PT_EFORMAT, "no rows: expected label<TAB>text lines");
    }
    json_t *d = json_object();
    if (err.line > 0)
        json_object_set_new(d, "line", json_integer(err.line));
    if (err.offset >= 0)
        json_object_set_new(d, "offset", json_integer(err.offset));
    if (field)
        json_object_set_new(d, "field", json_string(field));
    http_reply_error(r, 400, "invalid_tsv", d, "%s%s%s", field ? field : "", field ? ": " : "", err.msg);
    return -1;
}

bool app_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > APP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    json_t *probe = json_string(name); /* jansson refuses invalid UTF-8 */
    json_decref(probe);
    return probe != NULL;
}

static bool body_tsv(http_req *r, const char **name, const char **data, size_t *len, char *name_buf, size_t cap)
{
    const char *body = http_body(r, len);
    *data = body;
    if (http_body_kind(r) != HTTP_BODY_MULTIPART)
        return true;
    char boundary[80];
    multipart m;
    pt_err err;
    pt_err_clear(&err);
    if (multipart_boundary(http_content_type(r), boundary, sizeof boundary, &err) ||
        multipart_parse(&m, body, *len, boundary, &err)) {
        http_reply_error(r, 400, "invalid_multipart",
                         err.offset >= 0 ? json_pack("{s:I}", "offset", (json_int_t)err.offset) : NULL, "%s",
                         err.msg);
        return false;
    }
    const multipart_part *file = multipart_find(&m, "file");
    if (!file) {
        http_reply_error(r, 400, "invalid_multipart", json_pack("{s:s}", "field", "file"),
                         "multipart body has no 'file' part (curl -F file=@train.tsv)");
        return false;
    }
    const multipart_part *n = multipart_find(&m, "name");
    if (!*name && n) {
        snprintf(name_buf, cap, "%.*s", (int)(n->len < cap - 1 ? n->len : cap - 1), n->data);
        *name = name_buf;
    } else if (!*name && file->filename[0]) {
        snprintf(name_buf, cap, "%.*s", (int)cap - 1, file->filename);
        *name = name_buf;
    }
    *data = file->data;
    *len = file->len;
    return true;
}

void route_dataset_create(http_req *r, void *arg)
{
    app *a = arg;
    const char *name = http_query(r, "name"), *data;
    char name_buf[APP_NAME_MAX + 1];
    size_t len;
    if (!body_tsv(r, &name, &data, &len, name_buf, sizeof name_buf))
        return;
    if (!name)
        name = "dataset";
    if (!app_valid_name(name)) {
        http_reply_error(r, 422, "invalid_value", json_pack("{s:s}", "field", "name"),
                         "name must be 1 to %d bytes of UTF-8 without control characters", APP_NAME_MAX);
        return;
    }
    tsv_data tsv;
    if (app_parse_tsv(r, NULL, data, len, &tsv))
        return;
    store_row *rows = malloc((size_t)tsv.n_rows * sizeof *rows);
    if (!rows) {
        tsv_free(&tsv);
        http_reply_error(r, 503, "out_of_memory", NULL, "cannot hold the dataset right now");
        return;
    }
    for (int i = 0; i < tsv.n_rows; i++)
        rows[i] = (store_row){tsv.rows[i].label, tsv.rows[i].text, tsv.rows[i].line};
    char sha[65];
    sha256_hex(data, len, sha);
    store_dataset_src src = {.name = name, .sha256 = sha, .rows = rows, .n_rows = tsv.n_rows};
    pt_err err;
    pt_err_clear(&err);
    json_t *d = NULL;
    int rc = store_dataset_insert(a->db, &src, &err);
    if (!rc)
        rc = store_dataset_get(a->db, src.id, &d, &err);
    free(rows);
    tsv_free(&tsv);
    if (rc) {
        http_reply_err(r, &err);
        return;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/datasets/%lld", (long long)src.id);
    http_set_header(r, "Location", loc);
    http_reply_json(r, 201, d);
}

void route_dataset_list(http_req *r, void *arg)
{
    app *a = arg;
    json_t *list;
    pt_err err;
    pt_err_clear(&err);
    if (store_dataset_list(a->db, &list, &err))
        http_reply_err(r, &err);
    else
        http_reply_json(r, 200, json_pack("{s:o}", "datasets", list));
}

void route_dataset_get(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    json_t *d;
    pt_err err;
    pt_err_clear(&err);
    if (!http_param_id(r, "id", &id))
        return;
    if (store_dataset_get(a->db, id, &d, &err))
        http_reply_err(r, &err);
    else
        http_reply_json(r, 200, d);
}

/* A non-negative integer query parameter within [min, max]; replies 422 and returns false otherwise. */
static bool query_long(http_req *r, const char *name, long def, long min, long max, long *out)
{
    const char *v = http_query(r, name);
    if (!v) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        http_reply_error(r, 422, "invalid_value", json_pack("{s:s}", "field", name),
                         "%s must be an integer in %ld..%ld", name, min, max);
        return false;
    }
    *out = n;
    return true;
}

void route_dataset_rows(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    long offset, limit;
    json_t *d;
    pt_err err;
    pt_err_clear(&err);
    if (!http_param_id(r, "id", &id) || !query_long(r, "offset", 0, 0, 1L << 40, &offset) ||
        !query_long(r, "limit", 100, 1, ROWS_PAGE_MAX, &limit))
        return;
    if (store_dataset_rows(a->db, id, offset, limit, &d, &err))
        http_reply_err(r, &err);
    else
        http_reply_json(r, 200, d);
}

void route_dataset_delete(http_req *r, void *arg)
{
    app *a = arg;
    int64_t id;
    pt_err err;
    pt_err_clear(&err);
    if (!http_param_id(r, "id", &id))
        return;
    int rc = store_dataset_delete(a->db, id, &err);
    if (rc == PT_ECONFLICT)
        http_reply_error(r, 409, "dataset_in_use", NULL, "%s", err.msg);
    else if (rc)
        http_reply_err(r, &err);
    else
        http_reply_bytes(r, 204, "application/json", "", 0);
}
