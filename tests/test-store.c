/* Unit tests for server/store: migrations, schema equality with schema/schema.sql, datasets, tasks,
 * the job queue's claim / recover / release rules, prompts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char db_path[512];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("PTUNE_TMP");
    snprintf(db_path, sizeof db_path, "%s/test-store-%d.db", tmp ? tmp : "/tmp", (int)getpid());
    for (const char *suffix = ""; suffix; suffix = !*suffix ? "-wal" : !strcmp(suffix, "-wal") ? "-shm" : NULL) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", db_path, suffix);
        unlink(p);
    }
    return 0;
}

static store *open_store(void)
{
    store *s = NULL;
    pt_err e;
    pt_err_clear(&e);
    int rc = store_open(&s, db_path, embedded_migrations, embedded_migrations_count, &e);
    if (rc)
        fail_msg("store_open: %s", e.msg);
    return s;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_migrations_recorded_once(void **state)
{
    (void)state;
    store *s = open_store();
    json_t *m;
    pt_err e;
    assert_int_equal(store_migrations(s, &m, &e), 0);
    assert_int_equal(json_array_size(m), (size_t)embedded_migrations_count);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "name")), "0001_init.sql");
    json_decref(m);
    store_close(s);
    /* Opening again applies nothing new. */
    s = open_store();
    assert_int_equal(store_migrations(s, &m, &e), 0);
    assert_int_equal(json_array_size(m), (size_t)embedded_migrations_count);
    json_decref(m);
    store_close(s);
}

static void test_schema_sql_equals_migrations(void **state)
{
    (void)state;
    const char *src = getenv("PTUNE_SRC");
    assert_non_null(src);
    char path[512];
    snprintf(path, sizeof path, "%s/schema/schema.sql", src);
    char *sql = read_file(path);
    assert_non_null(sql);
    store *s = open_store();
    char *migrated = NULL, *documented = NULL;
    pt_err e;
    assert_int_equal(store_schema(s, &migrated, &e), 0);
    assert_int_equal(store_schema_of_sql(sql, &documented, &e), 0);
    assert_non_null(strstr(migrated, "table tasks: CREATE TABLE tasks ("));
    assert_string_equal(migrated, documented);
    free(migrated);
    free(documented);
    free(sql);
    store_close(s);
}

static void test_bad_migrations_refused_and_rolled_back(void **state)
{
    (void)state;
    static const unsigned char ok_sql[] = "CREATE TABLE a (x INTEGER);";
    static const unsigned char bad_sql[] = "CREATE TABLE b (y INTEGER); CREATE TABLE broken (;";
    const embedded_file two[] = {{"0001_a.sql", ok_sql, sizeof ok_sql - 1}, {"0002_b.sql", bad_sql, sizeof bad_sql - 1}};
    const embedded_file misordered[] = {two[1], two[0]};
    store *s = NULL;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(store_open(&s, db_path, misordered, 2, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "0001_a.sql"));
    assert_int_equal(store_open(&s, db_path, two, 2, &e), PT_EIO);
    assert_null(s);
    assert_non_null(strstr(e.msg, "migration 0002_b.sql"));
    /* One transaction: the good migration before the bad one was not kept either. */
    assert_int_equal(store_open(&s, db_path, two, 1, &e), 0);
    char *schema;
    assert_int_equal(store_schema(s, &schema, &e), 0);
    assert_non_null(strstr(schema, "table a: CREATE TABLE a (x INTEGER)"));
    assert_null(strstr(schema, "table b:"));
    free(schema);
    store_close(s);
    /* A database from a newer binary (version 1 applied, binary knows none) is refused. */
    assert_int_equal(store_open(&s, db_path, two, 0, &e), PT_EMISMATCH);
    assert_non_null(strstr(e.msg, "newer"));
}

static const store_row rows3[] = {{"正", "东西很好", 1}, {"负", "质量太差", 2}, {"正", "好用\t推荐", 4}};

static int64_t add_dataset(store *s, const char *name)
{
    store_dataset_src d = {.name = name, .sha256 = "abc", .rows = rows3, .n_rows = 3};
    pt_err e;
    assert_int_equal(store_dataset_insert(s, &d, &e), 0);
    assert_true(d.id > 0);
    return d.id;
}

static void test_datasets_crud(void **state)
{
    (void)state;
    store *s = open_store();
    pt_err e;
    pt_err_clear(&e);
    int64_t id = add_dataset(s, "reviews");
    json_t *d;
    assert_int_equal(store_dataset_get(s, id, &d, &e), 0);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "reviews");
    assert_int_equal(json_integer_value(json_object_get(d, "rows")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "labels"), "正")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "labels"), "负")), 1);
    json_decref(d);

    assert_int_equal(store_dataset_rows(s, id, 1, 5, &d, &e), 0);
    json_t *rows = json_object_get(d, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "total")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "text")), "好用\t推荐");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "line")), 4);
    json_decref(d);

    store_rows r;
    assert_int_equal(store_dataset_load(s, id, &r, &e), 0);
    assert_int_equal(r.n_rows, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.rows[i].label, rows3[i].label);
        assert_string_equal(r.rows[i].text, rows3[i].text);
        assert_int_equal(r.rows[i].line, rows3[i].line);
    }
    store_rows_free(&r);

    int64_t id2 = add_dataset(s, "second");
    assert_int_equal(store_dataset_list(s, &d, &e), 0);
    assert_int_equal(json_array_size(d), 2);
    json_decref(d);

    assert_int_equal(store_dataset_delete(s, id, &e), 0);
    assert_int_equal(store_dataset_get(s, id, &d, &e), PT_ENOTFOUND);
    assert_int_equal(store_dataset_rows(s, id, 0, 5, &d, &e), PT_ENOTFOUND);
    assert_int_equal(store_dataset_load(s, id, &r, &e), PT_ENOTFOUND);
    assert_int_equal(store_dataset_delete(s, id, &e), PT_ENOTFOUND);
    assert_int_equal(store_dataset_delete(s, id2, &e), 0);
    store_dataset_src empty = {.name = "empty", .sha256 = "x", .rows = rows3, .n_rows = 0};
    assert_int_equal(store_dataset_insert(s, &empty, &e), PT_EINVAL);
    store_close(s);
}

static void test_task_lifecycle_and_dataset_in_use(void **state)
{
    (void)state;
    store *s = open_store();
    pt_err e;
    pt_err_clear(&e);
    int64_t ds = add_dataset(s, "train");
    store_dataset_src train = {.id = ds}, missing = {.id = 999};
    int64_t id;
    assert_int_equal(store_task_insert(s, "sentiment", &missing, NULL, "{}", &id, &e), PT_ENOTFOUND);
    assert_string_equal(e.field, "train_dataset");
    assert_int_equal(store_task_insert(s, "sentiment", &train, NULL, "{\"epochs\": 3}", &id, &e), 0);

    /* queued: the dataset may not go away. */
    assert_int_equal(store_dataset_delete(s, ds, &e), PT_ECONFLICT);
    assert_non_null(strstr(e.msg, "is used by task"));

    store_job job;
    assert_int_equal(store_task_claim(s, &job, &e), 1);
    assert_int_equal(job.id, id);
    assert_int_equal(job.train_dataset, ds);
    assert_int_equal(job.dev_dataset, 0);
    assert_int_equal(job.attempts, 1);
    assert_string_equal(job.config, "{\"epochs\": 3}");
    store_job_free(&job);
    assert_int_equal(store_task_claim(s, &job, &e), 0);

    assert_int_equal(store_task_progress(s, id, "{\"epoch\": 1, \"step\": 4}", &e), 0);
    json_t *t;
    assert_int_equal(store_task_get(s, id, &t, &e), 0);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "running");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "progress"), "step")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "config"), "epochs")), 3);
    json_decref(t);

    assert_int_equal(store_task_delete(s, id, &e), PT_ECONFLICT);
    char st[16];
    assert_int_equal(store_task_cancel(s, id, st, &e), 0);
    assert_string_equal(st, "running");
    assert_int_equal(store_task_get(s, id, &t, &e), 0);
    assert_true(json_is_true(json_object_get(t, "cancel_requested")));
    assert_string_equal(json_string_value(json_object_get(t, "status")), "running");
    json_decref(t);
    assert_int_equal(store_task_finish_error(s, id, STORE_CANCELLED, "cancelled by request", &e), 0);
    assert_int_equal(store_task_cancel(s, id, st, &e), PT_ECONFLICT);
    assert_int_equal(store_task_status(s, id, st, &e), 0);
    assert_string_equal(st, "cancelled");

    /* Finished tasks keep no hold on their dataset; its id becomes null in the task. */
    assert_int_equal(store_dataset_delete(s, ds, &e), 0);
    assert_int_equal(store_task_get(s, id, &t, &e), 0);
    assert_true(json_is_null(json_object_get(t, "train_dataset")));
    json_decref(t);
    assert_int_equal(store_task_delete(s, id, &e), 0);
    assert_int_equal(store_task_get(s, id, &t, &e), PT_ENOTFOUND);
    store_close(s);
}

static void test_inline_datasets_are_created_with_the_task(void **state)
{
    (void)state;
    store *s = open_store();
    pt_err e;
    pt_err_clear(&e);
    store_dataset_src train = {.name = "t (inline)", .sha256 = "s", .rows = rows3, .n_rows = 3};
    store_dataset_src dev = {.name = "d (inline)", .sha256 = "s", .rows = rows3, .n_rows = 2};
    int64_t id;
    assert_int_equal(store_task_insert(s, "t", &train, &dev, "{}", &id, &e), 0);
    assert_true(train.id > 0 && dev.id > train.id);
    json_t *t;
    assert_int_equal(store_task_get(s, id, &t, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(t, "dev_dataset")), dev.id);
    json_decref(t);
    /* A failing insert leaves no dataset behind. */
    store_dataset_src bad = {.id = 12345};
    store_dataset_src train2 = {.name = "t2", .sha256 = "s", .rows = rows3, .n_rows = 3};
    assert_int_equal(store_task_insert(s, "t2", &train2, &bad, "{}", &id, &e), PT_ENOTFOUND);
    assert_string_equal(e.field, "dev_dataset");
    json_t *all;
    assert_int_equal(store_dataset_list(s, &all, &e), 0);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    store_close(s);
}

static void test_recover_requeues_then_fails_after_three_attempts(void **state)
{
    (void)state;
    pt_err e;
    pt_err_clear(&e);
    store *s = open_store();
    store_dataset_src train = {.id = add_dataset(s, "d")};
    int64_t a, b;
    assert_int_equal(store_task_insert(s, "a", &train, NULL, "{}", &a, &e), 0);
    assert_int_equal(store_task_insert(s, "b", &train, NULL, "{}", &b, &e), 0);
    store_close(s);
    for (int attempt = 1; attempt <= 3; attempt++) {
        s = open_store();
        int requeued, failed;
        assert_int_equal(store_task_recover(s, 3, &requeued, &failed, &e), 0);
        assert_int_equal(requeued, attempt == 1 ? 0 : 1);
        assert_int_equal(failed, 0);
        store_job job;
        assert_int_equal(store_task_claim(s, &job, &e), 1);
        assert_int_equal(job.id, a); /* oldest first */
        assert_int_equal(job.attempts, attempt);
        store_job_free(&job);
        store_close(s); /* a "crash": a stays running */
    }
    s = open_store();
    int requeued, failed;
    assert_int_equal(store_task_recover(s, 3, &requeued, &failed, &e), 0);
    assert_int_equal(failed, 1);
    assert_int_equal(requeued, 0);
    json_t *t;
    assert_int_equal(store_task_get(s, a, &t, &e), 0);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(t, "error")), "interrupted 3 times"));
    json_decref(t);

    /* A cancel requested before the crash is honoured at recovery. */
    int64_t c;
    assert_int_equal(store_task_insert(s, "c", &train, NULL, "{}", &c, &e), 0);
    store_job cj;
    assert_int_equal(store_task_claim(s, &cj, &e), 1);
    assert_int_equal(cj.id, b); /* b is older than c */
    store_job_free(&cj);
    assert_int_equal(store_task_release(s, b, &e), 0);
    char now[16];
    assert_int_equal(store_task_status(s, b, now, &e), 0);
    assert_string_equal(now, "queued");
    assert_int_equal(store_task_claim(s, &cj, &e), 1);
    store_job_free(&cj);
    assert_int_equal(store_task_claim(s, &cj, &e), 1);
    assert_int_equal(cj.id, c);
    store_job_free(&cj);
    assert_int_equal(store_task_cancel(s, c, now, &e), 0);
    assert_int_equal(store_task_recover(s, 3, &requeued, &failed, &e), 0);
    assert_int_equal(requeued, 1); /* b */
    assert_int_equal(store_task_status(s, c, now, &e), 0);
    assert_string_equal(now, "cancelled");

    /* A clean shutdown gives the attempt back (b's crashed attempt above still counts). */
    store_job job;
    assert_int_equal(store_task_claim(s, &job, &e), 1);
    assert_int_equal(job.id, b);
    assert_int_equal(job.attempts, 2);
    assert_int_equal(store_task_release(s, b, &e), 0);
    store_job_free(&job);
    assert_int_equal(store_task_claim(s, &job, &e), 1);
    assert_int_equal(job.attempts, 2);
    store_job_free(&job);
    long counts[5];
    assert_int_equal(store_task_counts(s, counts, &e), 0);
    assert_int_equal(counts[1], 1); /* running */
    assert_int_equal(counts[3], 1); /* failed */
    store_close(s);
}

static void test_prompts_round_trip_little_endian(void **state)
{
    (void)state;
    pt_err e;
    pt_err_clear(&e);
    store *s = open_store();
    store_dataset_src train = {.id = add_dataset(s, "d")};
    int64_t id;
    assert_int_equal(store_task_insert(s, "sent", &train, NULL, "{}", &id, &e), 0);
    float vec[6] = {1.0f, -2.5f, 3.25e-7f, 0.0f, -0.0f, 1e30f};
    store_prompt p = {.n_tokens = 2, .dim = 3, .vectors = vec, .template_text = "{mask}{prompt:2}{text}",
                      .verbalizer = "{\"正\":[\"好\"]}", .labels = "[\"正\",\"负\"]", .fingerprint = "ff",
                      .ptune_json = "{}", .adapter_config = "{}"};
    /* Not running yet: refused, nothing written. */
    assert_int_equal(store_task_succeed(s, id, &p, "{}", "[]", &e), PT_ECONFLICT);
    store_prompt got;
    assert_int_equal(store_prompt_get(s, id, &got, &e), PT_ENOTFOUND);
    assert_int_equal(store_task_resolve(s, "sent", &id, &e), PT_ECONFLICT);
    assert_int_equal(store_task_resolve(s, "nope", &id, &e), PT_ENOTFOUND);

    store_job job;
    assert_int_equal(store_task_claim(s, &job, &e), 1);
    store_job_free(&job);
    assert_int_equal(store_task_succeed(s, id, &p, "{\"accuracy\": 0.5}", "[{\"epoch\": 1}]", &e), 0);
    assert_int_equal(store_prompt_get(s, id, &got, &e), 0);
    assert_int_equal(got.n_tokens, 2);
    assert_int_equal(got.dim, 3);
    assert_memory_equal(got.vectors, vec, sizeof vec);
    assert_string_equal(got.template_text, p.template_text);
    assert_string_equal(got.labels, p.labels);
    store_prompt_free(&got);

    int64_t imported, resolved;
    assert_int_equal(store_task_import(s, "sent", "{}", &p, "{}", "[]", &imported, &e), 0);
    assert_int_equal(store_task_resolve(s, "sent", &resolved, &e), 0);
    assert_int_equal(resolved, imported); /* the newest succeeded one */
    assert_int_equal(store_prompt_get(s, imported, &got, &e), 0);
    assert_memory_equal(got.vectors, vec, sizeof vec);
    store_prompt_free(&got);

    json_t *list;
    assert_int_equal(store_task_list(s, "succeeded", "sent", &list, &e), 0);
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), imported);
    json_decref(list);
    assert_int_equal(store_task_list(s, "failed", NULL, &list, &e), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_check_writable(s, &e), 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_migrations_recorded_once, setup),
        cmocka_unit_test_setup(test_schema_sql_equals_migrations, setup),
        cmocka_unit_test_setup(test_bad_migrations_refused_and_rolled_back, setup),
        cmocka_unit_test_setup(test_datasets_crud, setup),
        cmocka_unit_test_setup(test_task_lifecycle_and_dataset_in_use, setup),
        cmocka_unit_test_setup(test_inline_datasets_are_created_with_the_task, setup),
        cmocka_unit_test_setup(test_recover_requeues_then_fails_after_three_attempts, setup),
        cmocka_unit_test_setup(test_prompts_round_trip_little_endian, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
