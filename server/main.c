/* ptuned — the daemon: loads the backbone once, serves the HTTP API, trains on a worker pool.
 *
 * Start-up failures caused by configuration (flags, keys file, model directory, database) print one line
 * and exit 2. SIGTERM/SIGINT drain: stop accepting, stop training between steps (the task goes back to
 * the queue), let requests in flight finish, close the database, exit 0.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tensor.h"

#include "app.h"
#include "embedded.h"
#include "log.h"

static int fail_config(const char *what, const pt_err *err)
{
    fprintf(stderr, "ptuned: %s%s%s\n", what, what[0] ? ": " : "", err->msg);
    return 2;
}

/* --healthcheck: GET /healthz on the configured address (for container HEALTHCHECKs without curl). */
static int healthcheck(const config *c)
{
    char host[256];
    int port;
    pt_err err;
    pt_err_clear(&err);
    if (http_parse_listen(c->listen, host, sizeof host, &port, &err))
        return fail_config("", &err);
    /* A wildcard listen address is reached through loopback. */
    const char *target = !host[0] || !strcmp(host, "0.0.0.0") ? "127.0.0.1" : !strcmp(host, "::") ? "::1" : host;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(target, service, &hints, &ai)) {
        fprintf(stderr, "ptuned: healthcheck: cannot resolve %s\n", target);
        return 1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(ai);
    static const char req[] = "GET /healthz HTTP/1.0\r\nConnection: close\r\n\r\n";
    char buf[64] = "";
    ok = ok && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(fd, buf, sizeof buf - 1) > 12;
    if (fd >= 0)
        close(fd);
    ok = ok && !strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200", 4);
    if (!ok)
        fprintf(stderr, "ptuned: healthcheck: %s did not answer 200 on /healthz\n", c->listen);
    return ok ? 0 : 1;
}

static void observe(void *arg, const char *method, const char *route, int status, double seconds)
{
    app *a = arg;
    prom_observe_request(a->metrics, method, route, status, seconds);
}

static int start(app *a)
{
    pt_err err;
    pt_err_clear(&err);
    const config *c = &a->cfg;
    if (c->queue_limit < c->max_client_batch) {
        fprintf(stderr, "ptuned: --queue-limit (%d) must be at least --max-client-batch (%d)\n", c->queue_limit,
                c->max_client_batch);
        return 2;
    }
    if (c->threads > 0)
        tensor_set_threads(c->threads);
    if (c->api_keys_file[0] && auth_load(&a->keys, c->api_keys_file, &err))
        return fail_config("--api-keys-file", &err);
    bert_model *m = NULL;
    if (bert_load(&m, c->model, &err))
        return fail_config("--model", &err);
    a->model = m;
    if (store_open(&a->db, c->db, embedded_migrations, embedded_migrations_count, &err))
        return fail_config("--db", &err);
    int requeued = 0, failed = 0;
    if (store_task_recover(a->db, JOBS_MAX_ATTEMPTS, &requeued, &failed, &err))
        return fail_config("--db", &err);
    if (requeued || failed) {
        char msg[96];
        snprintf(msg, sizeof msg, "%d interrupted task(s) queued again, %d given up", requeued, failed);
        log_event(c->log_format, "info", "recovered", "%s", msg);
    }
    if (!(a->metrics = prom_new()) || prompts_new(&a->cache, m, a->db, 64, &err) ||
        batcher_new(&a->batch, m, a->metrics, c->max_batch_tokens, c->queue_limit, &err))
        return fail_config("start", &err);
    if (jobs_start(&a->jobs, m, a->db, a->batch, a->metrics, c->workers, c->log_format, &err))
        return fail_config("start", &err);
    http_config hc = {.listen = c->listen, .max_body = c->max_body, .routes = app_routes, .n_routes = app_n_routes,
                      .keys = a->keys, .log_format = c->log_format, .app = a, .observe = observe};
    if (http_start(&a->http, &hc, &err))
        return fail_config("--listen", &err);
    char where[800];
    char host[256];
    int port;
    http_parse_listen(c->listen, host, sizeof host, &port, &err);
    snprintf(where, sizeof where, "%s:%d backbone=%s fingerprint=%.12s workers=%d", host[0] ? host : "*",
             http_port(a->http), m->name, m->fingerprint, c->workers);
    log_event(c->log_format, "info", "listening on", "%s", where);
    return 0;
}

/* Reverse order of start; each piece tolerates not having been started. */
static void stop(app *a)
{
    if (a->http) {
        http_quiesce(a->http);
        log_event(a->cfg.log_format, "info", "draining", "stopped accepting connections");
    }
    jobs_stop(a->jobs);
    if (a->http && !http_wait_idle(a->http, a->cfg.drain_timeout * 1000))
        log_event(a->cfg.log_format, "warn", "draining", "timeout: closing requests still in flight");
    http_stop(a->http);
    batcher_free(a->batch);
    prompts_free(a->cache);
    prom_free(a->metrics);
    store_close(a->db);
    bert_free((bert_model *)a->model);
    auth_free(a->keys);
}

int main(int argc, char **argv)
{
    static app a;
    pt_err err;
    pt_err_clear(&err);
    if (config_parse(&a.cfg, argc, argv, &err)) {
        fprintf(stderr, "ptuned: %s\n", err.msg);
        return 2;
    }
    if (a.cfg.help) {
        config_usage(stdout);
        return 0;
    }
    if (a.cfg.version) {
        printf("ptuned %s\n", PTUNED_VERSION);
        return 0;
    }
    if (a.cfg.healthcheck)
        return healthcheck(&a.cfg);
    a.started = time(NULL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    /* Every thread inherits the blocked signals: only sigwait in this thread takes SIGTERM/SIGINT. */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    int rc = start(&a);
    if (rc) {
        stop(&a);
        return rc;
    }
    int sig = 0;
    sigwait(&signals, &sig);
    log_event(a.cfg.log_format, "info", "signal", "%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(&a);
    log_event(a.cfg.log_format, "info", "stopped", "database closed");
    return 0;
}
