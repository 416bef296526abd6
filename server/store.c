#include "store.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct store {
    sqlite3 *db;
    pthread_mutex_t mu;
};

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

static const char *const task_states[5] = {STORE_QUEUED, STORE_RUNNING, STORE_SUCCEEDED, STORE_FAILED,
                                           STORE_CANCELLED};

static int db_fail(store *s, pt_err *err, const char *what)
{
    return pt_fail(err, PT_EIO, "database: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(store *s, const char *sql, pt_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pt_fail(err, PT_EIO, "database: %s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return PT_EIO;
    }
    return 0;
}

static int prepare(store *s, sqlite3_stmt **st, const char *sql, pt_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(s, err, "prepare");
    return 0;
}

/* Runs a statement that returns no rows. */
static int step_done(store *s, sqlite3_stmt *st, pt_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(s, err, "write");
    return 0;
}

static void lock(store *s) { pthread_mutex_lock(&s->mu); }
static void unlock(store *s) { pthread_mutex_unlock(&s->mu); }

static int begin(store *s, pt_err *err) { return exec(s, "BEGIN IMMEDIATE", err); }

/* Commits when rc is 0, rolls back otherwise; returns the first failure. */
static int end(store *s, int rc, pt_err *err)
{
    if (rc == 0)
        return exec(s, "COMMIT", err);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static char *col_dup(sqlite3_stmt *st, int i) { return strdup(col_text(st, i)); }

/* A JSON text column as a value (null when NULL or unparsable, which the store never writes). */
static json_t *col_json(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    json_t *v = json_loads(col_text(st, i), JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *col_value(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return json_null();
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    default: return json_string(col_text(st, i));
    }
}

/* ---- migrations ---- */

static int migration_version(const char *name)
{
    if (strlen(name) < 9 || !isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
        !isdigit((unsigned char)name[2]) || !isdigit((unsigned char)name[3]) || name[4] != '_' ||
        strcmp(name + strlen(name) - 4, ".sql"))
        return -1;
    return atoi(name);
}

static int applied_max(store *s, int *max, pt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT coalesce(max(version), 0) FROM schema_migrations", err))
        return PT_EIO;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_fail(s, err, "read schema_migrations");
    *max = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int migrate(store *s, const embedded_file *m, int n, pt_err *err)
{
    int last = 0;
    for (int i = 0; i < n; i++) {
        int v = migration_version(m[i].name);
        if (v <= last)
            return pt_fail(err, PT_EINVAL, "migration %s: name must be NNNN_name.sql with versions ascending",
                           m[i].name);
        last = v;
    }
    int rc = exec(s,
                  "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                  "name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                  err);
    int have = 0;
    if (rc || (rc = applied_max(s, &have, err)))
        return rc;
    if (have > last)
        return pt_fail(err, PT_EMISMATCH,
                       "database schema version %d is newer than this ptuned knows (%d): use a newer ptuned",
                       have, last);
    if ((rc = begin(s, err)))
        return rc;
    for (int i = 0; i < n && !rc; i++) {
        int v = migration_version(m[i].name);
        if (v <= have)
            continue;
        char *msg = NULL;
        if (sqlite3_exec(s->db, (const char *)m[i].data, NULL, NULL, &msg) != SQLITE_OK) {
            rc = pt_fail(err, PT_EIO, "migration %s: %s", m[i].name, msg ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            break;
        }
        sqlite3_stmt *st;
        if ((rc = prepare(s, &st, "INSERT INTO schema_migrations VALUES (?, ?, " NOW ")", err)))
            break;
        sqlite3_bind_int(st, 1, v);
        sqlite3_bind_text(st, 2, m[i].name, -1, SQLITE_STATIC);
        rc = step_done(s, st, err);
        sqlite3_finalize(st);
    }
    return end(s, rc, err);
}

int store_open(store **out, const char *path, const embedded_file *migrations, int n_migrations, pt_err *err)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        pt_fail(err, PT_EIO, "database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        store_close(s);
        return PT_EIO;
    }
    sqlite3_busy_timeout(s->db, 5000);
    int rc = exec(s, "PRAGMA foreign_keys = ON", err);
    /* journal_mode answers with a row; exec ignores it. Memory databases stay in "memory" mode. */
    if (!rc)
        rc = exec(s, "PRAGMA journal_mode = WAL", err);
    if (!rc)
        rc = exec(s, "PRAGMA synchronous = NORMAL", err);
    if (!rc)
        rc = migrate(s, migrations, n_migrations, err);
    if (rc) {
        pt_err_prefix(err, "%s", path);
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->db) {
        /* Folds the WAL back into the main file so that a stopped daemon leaves one self-contained file. */
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close(s->db);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int store_check_writable(store *s, pt_err *err)
{
    lock(s);
    int rc = begin(s, err);
    if (!rc)
        rc = exec(s, "ROLLBACK", err);
    unlock(s);
    return rc;
}

/* Drops -- comments and collapses whitespace, so that commentary never makes two schemas differ. */
static void canonical_sql(const char *in, char *out)
{
    char *o = out;
    char quote = 0;
    for (const char *p = in; *p; p++) {
        if (!quote && p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
        }
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        }
        if (!quote && isspace((unsigned char)*p)) {
            if (o > out && o[-1] != ' ')
                *o++ = ' ';
            continue;
        }
        /* "( a" and "a )" are the same SQL as "(a" and "a)". */
        if (!quote && (*p == ')' || *p == ',') && o > out && o[-1] == ' ')
            o--;
        if (o > out && o[-1] == ' ' && o - 1 > out && o[-2] == '(')
            o--;
        *o++ = *p;
    }
    while (o > out && o[-1] == ' ')
        o--;
    *o = '\0';
}

static int dump_schema(sqlite3 *db, char **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                           "AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
                           -1, &st, NULL) != SQLITE_OK)
        return pt_fail(err, PT_EIO, "database: %s", sqlite3_errmsg(db));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : pt_fail(err, PT_ENOMEM, "out of memory");
    if (buf)
        buf[0] = '\0';
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(st, 2);
        size_t need = len + strlen(sql) + 256;
        if (need > cap) {
            char *nb = realloc(buf, cap = 2 * need);
            if (!nb) {
                rc = pt_fail(err, PT_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
        }
        len += (size_t)sprintf(buf + len, "%s %s: ", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
        canonical_sql(sql, buf + len);
        len += strlen(buf + len);
        buf[len++] = '\n';
        buf[len] = '\0';
    }
    sqlite3_finalize(st);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

int store_schema(store *s, char **out, pt_err *err)
{
    lock(s);
    int rc = dump_schema(s->db, out, err);
    unlock(s);
    return rc;
}

int store_schema_of_sql(const char *sql, char **out, pt_err *err)
{
    sqlite3 *db;
    *out = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        sqlite3_close(db);
        return pt_fail(err, PT_EIO, "database: cannot open a memory database");
    }
    char *msg = NULL;
    int rc = 0;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        rc = pt_fail(err, PT_EFORMAT, "schema: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    if (!rc)
        rc = dump_schema(db, out, err);
    sqlite3_close(db);
    return rc;
}

int store_migrations(store *s, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = prepare(s, &st, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version", err);
    if (!rc) {
        json_t *a = json_array();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(a, json_pack("{s:I, s:s, s:s}", "version",
                                               (json_int_t)sqlite3_column_int64(st, 0), "name", col_text(st, 1),
                                               "applied_at", col_text(st, 2)));
        *out = a;
        sqlite3_finalize(st);
    }
    unlock(s);
    return rc;
}

/* ---- datasets ---- */

static int dataset_exists(store *s, int64_t id, pt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT 1 FROM datasets WHERE id = ?", err))
        return PT_EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : pt_fail(err, PT_ENOTFOUND, "dataset %lld does not exist",
                                                           (long long)id);
    sqlite3_finalize(st);
    return rc;
}

/* Label counts in first-seen order, as a JSON object text. */
static char *label_counts(const store_row *rows, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++) {
        json_t *c = json_object_get(o, rows[i].label);
        json_object_set_new(o, rows[i].label, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

static int dataset_insert_locked(store *s, store_dataset_src *src, pt_err *err)
{
    char *labels = label_counts(src->rows, src->n_rows);
    sqlite3_stmt *st;
    int rc = labels ? prepare(s, &st,
                              "INSERT INTO datasets (name, n_rows, labels, sha256, created_at) "
                              "VALUES (?, ?, ?, ?, " NOW ")",
                              err)
                    : pt_fail(err, PT_ENOMEM, "out of memory");
    if (rc) {
        free(labels);
        return rc;
    }
    sqlite3_bind_text(st, 1, src->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, src->n_rows);
    sqlite3_bind_text(st, 3, labels, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, src->sha256, -1, SQLITE_STATIC);
    rc = step_done(s, st, err);
    sqlite3_finalize(st);
    free(labels);
    if (rc)
        return rc;
    src->id = sqlite3_last_insert_rowid(s->db);
    if ((rc = prepare(s, &st, "INSERT INTO dataset_rows (dataset_id, idx, line, label, text) VALUES (?, ?, ?, ?, ?)",
                      err)))
        return rc;
    for (int i = 0; i < src->n_rows && !rc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, src->id);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_int64(st, 3, src->rows[i].line);
        sqlite3_bind_text(st, 4, src->rows[i].label, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, src->rows[i].text, -1, SQLITE_STATIC);
        rc = step_done(s, st, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_dataset_insert(store *s, store_dataset_src *src, pt_err *err)
{
    if (!src->rows || src->n_rows <= 0)
        return pt_fail(err, PT_EINVAL, "a dataset needs at least one row");
    lock(s);
    int rc = begin(s, err);
    if (!rc)
        rc = end(s, dataset_insert_locked(s, src, err), err);
    unlock(s);
    return rc;
}

#define DATASET_COLS "id, name, n_rows, labels, sha256, created_at"

static json_t *dataset_json(sqlite3_stmt *st)
{
    return json_pack("{s:I, s:s, s:I, s:o, s:s, s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0), "name",
                     col_text(st, 1), "rows", (json_int_t)sqlite3_column_int64(st, 2), "labels", col_json(st, 3),
                     "sha256", col_text(st, 4), "created_at", col_text(st, 5));
}

int store_dataset_get(store *s, int64_t id, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    lock(s);
    int rc = prepare(s, &st, "SELECT " DATASET_COLS " FROM datasets WHERE id = ?", err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            *out = dataset_json(st);
        else
            rc = pt_fail(err, PT_ENOTFOUND, "dataset %lld does not exist", (long long)id);
        sqlite3_finalize(st);
    }
    unlock(s);
    return rc;
}

int store_dataset_list(store *s, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    lock(s);
    int rc = prepare(s, &st, "SELECT " DATASET_COLS " FROM datasets ORDER BY id", err);
    if (!rc) {
        json_t *a = json_array();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(a, dataset_json(st));
        sqlite3_finalize(st);
        *out = a;
    }
    unlock(s);
    return rc;
}

int store_dataset_rows(store *s, int64_t id, long offset, long limit, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    lock(s);
    int rc = prepare(s, &st, "SELECT n_rows FROM datasets WHERE id = ?", err);
    long total = 0;
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            total = (long)sqlite3_column_int64(st, 0);
        else
            rc = pt_fail(err, PT_ENOTFOUND, "dataset %lld does not exist", (long long)id);
        sqlite3_finalize(st);
    }
    if (!rc && !(rc = prepare(s, &st,
                              "SELECT line, label, text FROM dataset_rows WHERE dataset_id = ? AND idx >= ? "
                              "ORDER BY idx LIMIT ?",
                              err))) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, offset);
        sqlite3_bind_int64(st, 3, limit);
        json_t *rows = json_array();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(rows, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)sqlite3_column_int64(st, 0),
                                                  "label", col_text(st, 1), "text", col_text(st, 2)));
        sqlite3_finalize(st);
        *out = json_pack("{s:I, s:I, s:I, s:I, s:o}", "dataset", (json_int_t)id, "offset", (json_int_t)offset,
                         "limit", (json_int_t)limit, "total", (json_int_t)total, "rows", rows);
    }
    unlock(s);
    return rc;
}

int store_dataset_load(store *s, int64_t id, store_rows *out, pt_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    lock(s);
    int rc = dataset_exists(s, id, err);
    if (!rc)
        rc = prepare(s, &st,
                     "SELECT line, label, text, (SELECT count(*) FROM dataset_rows WHERE dataset_id = ?1), "
                     "(SELECT coalesce(sum(length(CAST(label AS BLOB)) + length(CAST(text AS BLOB)) + 2), 0) "
                     "FROM dataset_rows WHERE dataset_id = ?1) FROM dataset_rows WHERE dataset_id = ?1 ORDER BY idx",
                     err);
    if (rc) {
        unlock(s);
        return rc;
    }
    sqlite3_bind_int64(st, 1, id);
    size_t used = 0;
    int n = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        if (!out->rows) {
            int total = sqlite3_column_int(st, 3);
            out->rows = calloc((size_t)total, sizeof *out->rows);
            out->buf = malloc((size_t)sqlite3_column_int64(st, 4));
            if (!out->rows || !out->buf) {
                rc = pt_fail(err, PT_ENOMEM, "out of memory");
                break;
            }
        }
        /* Offsets first: buf is complete (sized by the query) before any pointer into it is taken. */
        store_row *r = &out->rows[n++];
        r->line = (long)sqlite3_column_int64(st, 0);
        for (int c = 1; c <= 2; c++) {
            size_t len = (size_t)sqlite3_column_bytes(st, c);
            memcpy(out->buf + used, sqlite3_column_text(st, c), len);
            out->buf[used + len] = '\0';
            if (c == 1)
                r->label = out->buf + used;
            else
                r->text = out->buf + used;
            used += len + 1;
        }
    }
    sqlite3_finalize(st);
    unlock(s);
    out->n_rows = n;
    if (rc)
        store_rows_free(out);
    return rc;
}

void store_rows_free(store_rows *r)
{
    free(r->rows);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int store_dataset_delete(store *s, int64_t id, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = begin(s, err);
    if (rc) {
        unlock(s);
        return rc;
    }
    rc = dataset_exists(s, id, err);
    if (!rc && !(rc = prepare(s, &st,
                              "SELECT id FROM tasks WHERE (train_dataset = ?1 OR dev_dataset = ?1) "
                              "AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                              err))) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = pt_fail(err, PT_ECONFLICT, "dataset %lld is used by task %lld, which is queued or running",
                         (long long)id, (long long)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
    }
    if (!rc && !(rc = prepare(s, &st, "DELETE FROM datasets WHERE id = ?", err))) {
        sqlite3_bind_int64(st, 1, id);
        rc = step_done(s, st, err);
        sqlite3_finalize(st);
    }
    rc = end(s, rc, err);
    unlock(s);
    return rc;
}

/* ---- tasks ---- */

static int resolve_src(store *s, store_dataset_src *src, const char *field, pt_err *err)
{
    if (!src)
        return 0;
    int rc = src->rows ? dataset_insert_locked(s, src, err) : src->id ? dataset_exists(s, src->id, err) : 0;
    if (rc == PT_ENOTFOUND && err)
        snprintf(err->field, sizeof err->field, "%s", field);
    return rc;
}

int store_task_insert(store *s, const char *name, store_dataset_src *train, store_dataset_src *dev,
                      const char *config_json, int64_t *id, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = begin(s, err);
    if (rc) {
        unlock(s);
        return rc;
    }
    rc = resolve_src(s, train, "train_dataset", err);
    if (!rc)
        rc = resolve_src(s, dev, "dev_dataset", err);
    if (!rc && !(rc = prepare(s, &st,
                              "INSERT INTO tasks (name, status, train_dataset, dev_dataset, config, created_at) "
                              "VALUES (?, 'queued', ?, ?, ?, " NOW ")",
                              err))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (train && train->id)
            sqlite3_bind_int64(st, 2, train->id);
        if (dev && dev->id)
            sqlite3_bind_int64(st, 3, dev->id);
        sqlite3_bind_text(st, 4, config_json, -1, SQLITE_STATIC);
        rc = step_done(s, st, err);
        sqlite3_finalize(st);
        *id = sqlite3_last_insert_rowid(s->db);
    }
    rc = end(s, rc, err);
    unlock(s);
    return rc;
}

#define TASK_COLS                                                                                              \
    "id, name, status, train_dataset, dev_dataset, config, attempts, cancel_requested, progress, metrics, "  \
    "curve, error, created_at, started_at, finished_at"

static json_t *task_json(sqlite3_stmt *st)
{
    json_t *t = json_object();
    json_object_set_new(t, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(t, "name", json_string(col_text(st, 1)));
    json_object_set_new(t, "status", json_string(col_text(st, 2)));
    json_object_set_new(t, "train_dataset", col_value(st, 3));
    json_object_set_new(t, "dev_dataset", col_value(st, 4));
    json_object_set_new(t, "config", col_json(st, 5));
    json_object_set_new(t, "attempts", json_integer(sqlite3_column_int64(st, 6)));
    json_object_set_new(t, "cancel_requested", json_boolean(sqlite3_column_int(st, 7)));
    json_object_set_new(t, "progress", col_json(st, 8));
    json_object_set_new(t, "metrics", col_json(st, 9));
    json_object_set_new(t, "curve", col_json(st, 10));
    json_object_set_new(t, "error", col_value(st, 11));
    json_object_set_new(t, "created_at", col_value(st, 12));
    json_object_set_new(t, "started_at", col_value(st, 13));
    json_object_set_new(t, "finished_at", col_value(st, 14));
    return t;
}

static int task_missing(pt_err *err, int64_t id)
{
    return pt_fail(err, PT_ENOTFOUND, "task %lld does not exist", (long long)id);
}

int store_task_get(store *s, int64_t id, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    lock(s);
    int rc = prepare(s, &st, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            *out = task_json(st);
        else
            rc = task_missing(err, id);
        sqlite3_finalize(st);
    }
    unlock(s);
    return rc;
}

int store_task_list(store *s, const char *status, const char *name, json_t **out, pt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    lock(s);
    int rc = prepare(s, &st,
                     "SELECT " TASK_COLS " FROM tasks WHERE (?1 IS NULL OR status = ?1) "
                     "AND (?2 IS NULL OR name = ?2) ORDER BY id DESC",
                     err);
    if (!rc) {
        if (status)
            sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
        if (name)
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        json_t *a = json_array();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(a, task_json(st));
        sqlite3_finalize(st);
        *out = a;
    }
    unlock(s);
    return rc;
}

static int status_locked(store *s, int64_t id, char status[16], pt_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, &st, "SELECT status FROM tasks WHERE id = ?", err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(status, 16, "%s", col_text(st, 0));
        else
            rc = task_missing(err, id);
        sqlite3_finalize(st);
    }
    return rc;
}

int store_task_status(store *s, int64_t id, char status[16], pt_err *err)
{
    lock(s);
    int rc = status_locked(s, id, status, err);
    unlock(s);
    return rc;
}

int store_task_resolve(store *s, const char *name, int64_t *id, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = prepare(s, &st,
                     "SELECT max(CASE WHEN status = 'succeeded' THEN id END), count(*) FROM tasks WHERE name = ?",
                     err);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_step(st);
        if (sqlite3_column_int(st, 1) == 0)
            rc = pt_fail(err, PT_ENOTFOUND, "no task is named '%s'", name);
        else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            rc = pt_fail(err, PT_ECONFLICT, "no task named '%s' has succeeded yet", name);
        else
            *id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    unlock(s);
    return rc;
}

/* One UPDATE on a task by id. */
static int task_update(store *s, const char *sql, int64_t id, const char *text, pt_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, &st, sql, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    rc = step_done(s, st, err);
    sqlite3_finalize(st);
    return rc;
}

int store_task_cancel(store *s, int64_t id, char now_status[16], pt_err *err)
{
    lock(s);
    int rc = status_locked(s, id, now_status, err);
    if (!rc) {
        if (!strcmp(now_status, STORE_QUEUED)) {
            rc = task_update(s,
                             "UPDATE tasks SET status = 'cancelled', error = 'cancelled before it started', "
                             "finished_at = " NOW " WHERE id = ?",
                             id, NULL, err);
            if (!rc)
                snprintf(now_status, 16, "%s", STORE_CANCELLED);
        } else if (!strcmp(now_status, STORE_RUNNING)) {
            rc = task_update(s, "UPDATE tasks SET cancel_requested = 1 WHERE id = ?", id, NULL, err);
        } else {
            rc = pt_fail(err, PT_ECONFLICT, "task %lld has already finished (%s)", (long long)id, now_status);
        }
    }
    unlock(s);
    return rc;
}

int store_task_delete(store *s, int64_t id, pt_err *err)
{
    char status[16];
    lock(s);
    int rc = status_locked(s, id, status, err);
    if (!rc && !strcmp(status, STORE_RUNNING))
        rc = pt_fail(err, PT_ECONFLICT, "task %lld is running: cancel it first", (long long)id);
    if (!rc)
        rc = task_update(s, "DELETE FROM tasks WHERE id = ?", id, NULL, err);
    unlock(s);
    return rc;
}

int store_task_recover(store *s, int max_attempts, int *requeued, int *failed, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = begin(s, err);
    *requeued = *failed = 0;
    /* A cancel that the crashed job never saw still counts. */
    if (!rc)
        rc = exec(s,
                  "UPDATE tasks SET status = 'cancelled', error = 'cancelled by request', finished_at = " NOW
                  " WHERE status = 'running' AND cancel_requested = 1",
                  err);
    if (!rc && !(rc = prepare(s, &st,
                              "UPDATE tasks SET status = 'failed', finished_at = " NOW ", error = "
                              "'interrupted ' || attempts || ' times while running (the daemon stopped or "
                              "crashed): giving up' WHERE status = 'running' AND attempts >= ?",
                              err))) {
        sqlite3_bind_int(st, 1, max_attempts);
        rc = step_done(s, st, err);
        *failed = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    if (!rc && !(rc = prepare(s, &st,
                              "UPDATE tasks SET status = 'queued', cancel_requested = 0 WHERE status = 'running'",
                              err))) {
        rc = step_done(s, st, err);
        *requeued = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    rc = end(s, rc, err);
    unlock(s);
    return rc;
}

int store_task_claim(store *s, store_job *job, pt_err *err)
{
    sqlite3_stmt *st;
    memset(job, 0, sizeof *job);
    lock(s);
    int rc = prepare(s, &st,
                     "UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = " NOW ", "
                     "progress = NULL WHERE id = (SELECT id FROM tasks WHERE status = 'queued' ORDER BY id LIMIT 1) "
                     "RETURNING id, name, config, coalesce(train_dataset, 0), coalesce(dev_dataset, 0), attempts",
                     err);
    if (!rc) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            job->id = sqlite3_column_int64(st, 0);
            job->name = col_dup(st, 1);
            job->config = col_dup(st, 2);
            job->train_dataset = sqlite3_column_int64(st, 3);
            job->dev_dataset = sqlite3_column_int64(st, 4);
            job->attempts = sqlite3_column_int(st, 5);
            rc = job->name && job->config ? 1 : pt_fail(err, PT_ENOMEM, "out of memory");
            step = sqlite3_step(st);
        }
        if (step != SQLITE_DONE && rc >= 0)
            rc = db_fail(s, err, "claim a task");
        sqlite3_finalize(st);
    }
    unlock(s);
    if (rc < 0)
        store_job_free(job);
    return rc;
}

void store_job_free(store_job *job)
{
    free(job->name);
    free(job->config);
    memset(job, 0, sizeof *job);
}

int store_task_progress(store *s, int64_t id, const char *progress_json, pt_err *err)
{
    lock(s);
    int rc = task_update(s, "UPDATE tasks SET progress = ?2 WHERE id = ?1", id, progress_json, err);
    unlock(s);
    return rc;
}

int store_task_release(store *s, int64_t id, pt_err *err)
{
    lock(s);
    int rc = task_update(s,
                         "UPDATE tasks SET status = 'queued', attempts = max(attempts - 1, 0), started_at = NULL "
                         "WHERE id = ? AND status = 'running'",
                         id, NULL, err);
    unlock(s);
    return rc;
}

int store_task_finish_error(store *s, int64_t id, const char *status, const char *error, pt_err *err)
{
    if (strcmp(status, STORE_FAILED) && strcmp(status, STORE_CANCELLED))
        return pt_fail(err, PT_EINVAL, "a task can only end in error as failed or cancelled, not %s", status);
    const char *sql = !strcmp(status, STORE_FAILED)
                          ? "UPDATE tasks SET status = 'failed', error = ?2, finished_at = " NOW " WHERE id = ?1"
                          : "UPDATE tasks SET status = 'cancelled', error = ?2, finished_at = " NOW " WHERE id = ?1";
    lock(s);
    int rc = task_update(s, sql, id, error, err);
    unlock(s);
    return rc;
}

/* Little-endian F32 whatever the host order, as the schema promises. */
static unsigned char *vectors_blob(const float *v, size_t n)
{
    unsigned char *b = malloc(n * 4 + 1);
    for (size_t i = 0; b && i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++)
            b[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
    return b;
}

static int prompt_insert_locked(store *s, int64_t id, const store_prompt *p, pt_err *err)
{
    size_t n = (size_t)p->n_tokens * (size_t)p->dim;
    unsigned char *blob = vectors_blob(p->vectors, n);
    if (!blob)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "INSERT INTO prompts (task_id, n_tokens, dim, vectors, template, verbalizer, labels, "
                     "fingerprint, ptune_json, adapter_config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, p->n_tokens);
        sqlite3_bind_int(st, 3, p->dim);
        sqlite3_bind_blob64(st, 4, blob, n * 4, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, p->template_text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, p->verbalizer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, p->labels, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, p->fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, p->ptune_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, p->adapter_config, -1, SQLITE_STATIC);
        rc = step_done(s, st, err);
        sqlite3_finalize(st);
    }
    free(blob);
    return rc;
}

static int set_results_locked(store *s, int64_t id, const char *metrics_json, const char *curve_json, pt_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "UPDATE tasks SET status = 'succeeded', metrics = ?2, curve = ?3, error = NULL, "
                     "finished_at = " NOW " WHERE id = ?1",
                     err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, metrics_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, curve_json, -1, SQLITE_STATIC);
    rc = step_done(s, st, err);
    sqlite3_finalize(st);
    return rc;
}

int store_task_succeed(store *s, int64_t id, const store_prompt *p, const char *metrics_json,
                       const char *curve_json, pt_err *err)
{
    char status[16];
    lock(s);
    int rc = begin(s, err);
    if (!rc) {
        rc = status_locked(s, id, status, err);
        if (!rc && strcmp(status, STORE_RUNNING))
            rc = pt_fail(err, PT_ECONFLICT, "task %lld is %s, not running", (long long)id, status);
        if (!rc)
            rc = prompt_insert_locked(s, id, p, err);
        if (!rc)
            rc = set_results_locked(s, id, metrics_json, curve_json, err);
        rc = end(s, rc, err);
    }
    unlock(s);
    return rc;
}

int store_task_import(store *s, const char *name, const char *config_json, const store_prompt *p,
                      const char *metrics_json, const char *curve_json, int64_t *id, pt_err *err)
{
    sqlite3_stmt *st;
    lock(s);
    int rc = begin(s, err);
    if (rc) {
        unlock(s);
        return rc;
    }
    rc = prepare(s, &st,
                 "INSERT INTO tasks (name, status, config, created_at, started_at) "
                 "VALUES (?, 'running', ?, " NOW ", " NOW ")",
                 err);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, config_json, -1, SQLITE_STATIC);
        rc = step_done(s, st, err);
        sqlite3_finalize(st);
        *id = sqlite3_last_insert_rowid(s->db);
    }
    if (!rc)
        rc = prompt_insert_locked(s, *id, p, err);
    if (!rc)
        rc = set_results_locked(s, *id, metrics_json, curve_json, err);
    rc = end(s, rc, err);
    unlock(s);
    return rc;
}

int store_prompt_get(store *s, int64_t task_id, store_prompt *out, pt_err *err)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    lock(s);
    int rc = prepare(s, &st,
                     "SELECT n_tokens, dim, vectors, template, verbalizer, labels, fingerprint, ptune_json, "
                     "adapter_config FROM prompts WHERE task_id = ?",
                     err);
    if (!rc) {
        sqlite3_bind_int64(st, 1, task_id);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = pt_fail(err, PT_ENOTFOUND, "task %lld has no prompt", (long long)task_id);
        } else {
            out->n_tokens = sqlite3_column_int(st, 0);
            out->dim = sqlite3_column_int(st, 1);
            size_t n = (size_t)out->n_tokens * (size_t)out->dim;
            const unsigned char *b = sqlite3_column_blob(st, 2);
            out->vectors = malloc(n * sizeof(float) + 1);
            for (size_t i = 0; out->vectors && i < n; i++) {
                uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                             (uint32_t)b[4 * i + 3] << 24;
                memcpy(&out->vectors[i], &u, 4);
            }
            out->template_text = col_dup(st, 3);
            out->verbalizer = col_dup(st, 4);
            out->labels = col_dup(st, 5);
            out->fingerprint = col_dup(st, 6);
            out->ptune_json = col_dup(st, 7);
            out->adapter_config = col_dup(st, 8);
            if (!out->vectors || !out->template_text || !out->verbalizer || !out->labels || !out->fingerprint ||
                !out->ptune_json || !out->adapter_config)
                rc = pt_fail(err, PT_ENOMEM, "out of memory");
        }
        sqlite3_finalize(st);
    }
    unlock(s);
    if (rc)
        store_prompt_free(out);
    return rc;
}

void store_prompt_free(store_prompt *p)
{
    free(p->vectors);
    free(p->template_text);
    free(p->verbalizer);
    free(p->labels);
    free(p->fingerprint);
    free(p->ptune_json);
    free(p->adapter_config);
    memset(p, 0, sizeof *p);
}

int store_task_counts(store *s, long counts[5], pt_err *err)
{
    sqlite3_stmt *st;
    memset(counts, 0, 5 * sizeof counts[0]);
    lock(s);
    int rc = prepare(s, &st, "SELECT status, count(*) FROM tasks GROUP BY status", err);
    if (!rc) {
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int i = 0; i < 5; i++)
                if (!strcmp(col_text(st, 0), task_states[i]))
                    counts[i] = (long)sqlite3_column_int64(st, 1);
        sqlite3_finalize(st);
    }
    unlock(s);
    return rc;
}
