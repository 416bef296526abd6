#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define MAX_PARAMS 4
#define MAX_EXTRA_HEADERS 8
#define DISCARD_MAX (64u << 20)

struct http_server {
    struct MHD_Daemon *d;
    http_config cfg;
    int port;
    atomic_int active;
    atomic_bool draining;
    pthread_mutex_t mu; /* guards the wait for active == 0 */
    pthread_cond_t idle;
    MHD_socket listen_fd; /* after http_quiesce, closed by http_stop */
};

typedef struct param {
    const char *name; /* inside the route pattern, name_len bytes */
    size_t name_len;
    char *value;
} param;

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    const http_route *route;
    param params[MAX_PARAMS];
    int n_params;
    char *body;
    size_t len, cap;
    unsigned body_kind;
    char request_id[130];
    auth_scope scope;
    struct timespec start;
    /* the response */
    struct MHD_Response *resp;
    int status;
    size_t resp_bytes;
    bool replied, queued;
    size_t discarded; /* body bytes dropped after an early refusal */
    char *extra[MAX_EXTRA_HEADERS][2];
    int n_extra;
};

/* ---- small helpers ---- */

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static bool sane_request_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (n >= 128 || !(isalnum((unsigned char)id[n]) || strchr("._:-", id[n])))
            return false;
    return n > 0;
}

static void new_request_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* Never expected on Linux; a clock-based id is still unique enough for log correlation. */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        uint64_t v = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
        memcpy(b, &v, 8);
        memcpy(b + 8, &v, 8);
    }
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static unsigned body_kind_of(const char *content_type)
{
    if (!content_type)
        return 0;
    while (*content_type == ' ')
        content_type++;
    size_t n = strcspn(content_type, "; ");
    static const struct {
        const char *type;
        unsigned kind;
    } kinds[] = {
        {"application/json", HTTP_BODY_JSON},
        {"text/tab-separated-values", HTTP_BODY_TSV},
        {"text/plain", HTTP_BODY_TSV},
        {"multipart/form-data", HTTP_BODY_MULTIPART},
        {"application/x-tar", HTTP_BODY_TAR},
        {"application/octet-stream", HTTP_BODY_TAR},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].type) == n && !strncasecmp(content_type, kinds[i].type, n))
            return kinds[i].kind;
    return 0x100; /* something else */
}

static const char *accepted_types(unsigned bodies)
{
    switch (bodies) {
    case HTTP_BODY_JSON: return "application/json";
    case HTTP_BODY_TSV | HTTP_BODY_MULTIPART:
        return "text/tab-separated-values, text/plain or multipart/form-data";
    case HTTP_BODY_TAR: return "application/x-tar";
    default: return "a supported type";
    }
}

/* ---- routing ---- */

/* Matches path against pattern; fills params when given. */
static bool match(const char *pattern, const char *path, param *params, int *n_params)
{
    int n = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p != '/' || *u != '/')
            return false;
        p++, u++;
        size_t plen = strcspn(p, "/"), ulen = strcspn(u, "/");
        if (*p == '{') {
            if (!ulen || n >= MAX_PARAMS)
                return false;
            if (params) {
                params[n].name = p + 1;
                params[n].name_len = plen - 2;
                params[n].value = strndup(u, ulen);
            }
            n++;
        } else if (plen != ulen || strncmp(p, u, plen)) {
            return false;
        }
        p += plen, u += ulen;
    }
    if (*p || *u)
        return false;
    if (n_params)
        *n_params = n;
    return true;
}

static void free_params(http_req *r)
{
    for (int i = 0; i < r->n_params; i++)
        free(r->params[i].value);
    r->n_params = 0;
}

/* ---- replies ---- */

static void add_headers(http_req *r)
{
    MHD_add_response_header(r->resp, "X-Request-Id", r->request_id);
    for (int i = 0; i < r->n_extra; i++)
        MHD_add_response_header(r->resp, r->extra[i][0], r->extra[i][1]);
    if (atomic_load(&r->srv->draining))
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

void http_set_header(http_req *r, const char *name, const char *value)
{
    if (r->n_extra >= MAX_EXTRA_HEADERS)
        return;
    r->extra[r->n_extra][0] = strdup(name);
    r->extra[r->n_extra][1] = strdup(value);
    if (r->extra[r->n_extra][0] && r->extra[r->n_extra][1])
        r->n_extra++;
    else
        free(r->extra[r->n_extra][0]), free(r->extra[r->n_extra][1]);
}

void http_reply_bytes(http_req *r, int status, const char *content_type, const void *data, size_t len)
{
    if (r->replied)
        return;
    r->resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r->resp)
        return;
    r->replied = true;
    r->status = status;
    r->resp_bytes = len;
    MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_headers(r);
}

void http_reply_json(http_req *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
        http_reply_bytes(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (withnl) {
        text = withnl;
        text[n++] = '\n';
        text[n] = '\0';
    }
    http_reply_bytes(r, status, "application/json", text, n);
    free(text);
}

void http_reply_error(http_req *r, int status, const char *code, json_t *details, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (!e) /* the message was not valid UTF-8 (it quotes input): say so without it */
        e = json_pack("{s:s, s:s}", "code", code, "message", "(message not shown: it quoted invalid UTF-8)");
    if (details)
        json_object_update(e, details);
    json_decref(details);
    http_reply_json(r, status, json_pack("{s:o}", "error", e));
}

void http_reply_err(http_req *r, const pt_err *err)
{
    int status = 500;
    const char *code = "internal";
    switch (err->code) {
    case PT_ENOTFOUND: status = 404, code = "not_found"; break;
    case PT_ECONFLICT: status = 409, code = "conflict"; break;
    case PT_EMISMATCH: status = 409, code = "mismatch"; break;
    case PT_EINVAL:
    case PT_EFORMAT: status = 422, code = "invalid_value"; break;
    case PT_ELIMIT: status = 422, code = "limit_exceeded"; break;
    case PT_ECANCELLED: status = 503, code = "cancelled"; break;
    default: break;
    }
    json_t *d = json_object();
    if (err->line > 0)
        json_object_set_new(d, "line", json_integer(err->line));
    if (err->offset >= 0)
        json_object_set_new(d, "offset", json_integer(err->offset));
    if (err->field[0])
        json_object_set_new(d, "field", json_string(err->field));
    http_reply_error(r, status, code, d, "%s", err->msg);
}

/* ---- accessors ---- */

const char *http_method(const http_req *r) { return r->method; }
const char *http_path(const http_req *r) { return r->path; }
const char *http_request_id(const http_req *r) { return r->request_id; }
auth_scope http_caller_scope(const http_req *r) { return r->scope; }
unsigned http_body_kind(const http_req *r) { return r->body_kind; }

const char *http_param(const http_req *r, const char *name)
{
    for (int i = 0; i < r->n_params; i++)
        if (strlen(name) == r->params[i].name_len && !strncmp(name, r->params[i].name, r->params[i].name_len))
            return r->params[i].value;
    return NULL;
}

const char *http_query(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_content_type(const http_req *r) { return http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE); }

const char *http_body(const http_req *r, size_t *len)
{
    *len = r->len;
    return r->body ? r->body : "";
}

bool http_param_id(http_req *r, const char *name, int64_t *id)
{
    const char *v = http_param(r, name);
    char *end = NULL;
    errno = 0;
    long long n = v && isdigit((unsigned char)v[0]) ? strtoll(v, &end, 10) : 0;
    if (!v || errno || !end || *end || n <= 0) {
        http_reply_error(r, 404, "not_found", json_pack("{s:s}", "field", name),
                         "%s must be a positive integer id", name);
        return false;
    }
    *id = n;
    return true;
}

json_t *http_json_body(http_req *r)
{
    json_error_t je;
    json_t *v = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        http_reply_error(r, 400, "malformed_json",
                         json_pack("{s:i, s:i, s:i}", "line", je.line, "column", je.column, "offset", je.position),
                         "request body is not valid JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_error(r, 400, "malformed_json", NULL, "request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ---- the request cycle ---- */

static void route_request(http_req *r)
{
    const http_config *c = &r->srv->cfg;
    char allow[128] = "";
    for (int i = 0; i < c->n_routes; i++) {
        if (!match(c->routes[i].pattern, r->path, NULL, NULL))
            continue;
        if (!strcmp(c->routes[i].method, r->method)) {
            r->route = &c->routes[i];
            match(r->route->pattern, r->path, r->params, &r->n_params);
            return;
        }
        if (!strstr(allow, c->routes[i].method) && strlen(allow) + strlen(c->routes[i].method) + 3 < sizeof allow) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, c->routes[i].method);
        }
    }
    if (!allow[0]) {
        http_reply_error(r, 404, "not_found", NULL, "no route for %s", r->path);
        return;
    }
    http_set_header(r, "Allow", allow);
    http_reply_error(r, 405, "method_not_allowed", json_pack("{s:s}", "allow", allow),
                     "%s is not allowed on %s (allowed: %s)", r->method, r->path, allow);
}

static void check_auth(http_req *r)
{
    const auth_keys *keys = r->srv->cfg.keys;
    if (!keys || r->route->scope == HTTP_OPEN) {
        r->scope = keys ? AUTH_NONE : AUTH_ADMIN;
        return;
    }
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    size_t len;
    const char *key = auth_bearer(h, &len);
    r->scope = auth_check(keys, key, len);
    if (r->scope == AUTH_NONE) {
        http_set_header(r, "WWW-Authenticate", "Bearer");
        if (!h)
            http_reply_error(r, 401, "unauthorized", NULL, "an API key is required: Authorization: Bearer <key>");
        else
            http_reply_error(r, 401, "unauthorized", NULL, "invalid API key");
    } else if (r->route->scope == HTTP_ADMIN && r->scope != AUTH_ADMIN) {
        http_reply_error(r, 403, "forbidden", NULL, "this API key's scope (%s) does not allow %s %s",
                         auth_scope_name(r->scope), r->method, r->route->pattern);
    }
}

static void check_body_headers(http_req *r)
{
    const char *ct = http_content_type(r);
    r->body_kind = body_kind_of(ct);
    unsigned want = r->route->bodies;
    if (want && !(r->body_kind & want)) {
        http_reply_error(r, 415, "unsupported_media_type", json_pack("{s:s}", "expected", accepted_types(want)),
                         "Content-Type %s is not accepted here: send %s", ct ? ct : "(none)", accepted_types(want));
        return;
    }
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > r->srv->cfg.max_body)
            http_reply_error(r, 413, "body_too_large", json_pack("{s:I}", "max_body", (json_int_t)r->srv->cfg.max_body),
                             "request body is larger than the limit of %zu bytes", r->srv->cfg.max_body);
    }
}

static void append_body(http_req *r, const char *data, size_t n)
{
    if (n > r->srv->cfg.max_body - r->len) {
        http_reply_error(r, 413, "body_too_large", json_pack("{s:I}", "max_body", (json_int_t)r->srv->cfg.max_body),
                         "request body is larger than the limit of %zu bytes", r->srv->cfg.max_body);
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            http_reply_error(r, 503, "out_of_memory", NULL, "cannot hold the request body right now");
            return;
        }
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static enum MHD_Result queue(http_req *r)
{
    if (r->queued)
        return MHD_YES;
    r->queued = true;
    if (!r->resp)
        return MHD_NO; /* out of memory building the response: drop the connection */
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

static http_req *req_new(http_server *s, struct MHD_Connection *c, const char *url, const char *method)
{
    http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    r->srv = s;
    r->conn = c;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = strdup(url);
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (id && sane_request_id(id))
        snprintf(r->request_id, sizeof r->request_id, "%s", id);
    else
        new_request_id(r->request_id);
    if (!r->path) {
        free(r);
        return NULL;
    }
    return r;
}

static void req_free(http_req *r)
{
    free_params(r);
    for (int i = 0; i < r->n_extra; i++)
        free(r->extra[i][0]), free(r->extra[i][1]);
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r->path);
    free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        if (!(r = req_new(s, c, url, method)))
            return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        route_request(r);
        if (!r->replied)
            check_auth(r);
        if (!r->replied)
            check_body_headers(r);
        /* Refusing before the body is read: no 100 Continue is sent, and the body is never buffered. */
        return r->replied ? queue(r) : MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* libmicrohttpd cannot answer in the middle of a body: past the limit the bytes are counted and
         * dropped, and the 413 goes out at the end — unless the client keeps going far beyond the limit,
         * then the connection is closed. */
        if (r->replied) {
            r->discarded += n;
            return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        append_body(r, upload_data, n);
        return MHD_YES;
    }
    if (!r->replied)
        r->route->handle(r, s->cfg.app);
    if (!r->replied)
        http_reply_error(r, 500, "internal", NULL, "the handler of %s %s did not answer", r->method, r->path);
    return queue(r);
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
}

static void log_request(http_req *r, int status, double secs)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    flockfile(stderr);
    if (r->srv->cfg.log_format == HTTP_LOG_JSON) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"method\":\"", ts);
        json_escape(stderr, r->method);
        fprintf(stderr, "\",\"path\":\"");
        json_escape(stderr, r->path);
        fprintf(stderr, "\",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,\"request_id\":\"%s\"}\n", status,
                r->resp_bytes, secs * 1e3, r->request_id);
    } else {
        fprintf(stderr, "%s info request method=%s path=", ts, r->method);
        for (const char *p = r->path; *p; p++) /* a path is client text: keep the line one line */
            fputc((unsigned char)*p < 0x20 || *p == ' ' ? '_' : *p, stderr);
        fprintf(stderr, " status=%d bytes=%zu duration_ms=%.3f request_id=%s\n", status, r->resp_bytes, secs * 1e3,
                r->request_id);
    }
    funlockfile(stderr);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    /* 499 (client closed) as nginx logs it: the client went away before an answer was ready. */
    int status = r->queued ? r->status : 499;
    (void)toe;
    double secs = since(&r->start);
    log_request(r, status, secs);
    if (s->cfg.observe)
        s->cfg.observe(s->cfg.app, r->method, r->route ? r->route->pattern : "unmatched", status, secs);
    req_free(r);
    pthread_mutex_lock(&s->mu);
    if (atomic_fetch_sub(&s->active, 1) == 1)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    fprintf(stderr, "libmicrohttpd: %s\n", msg);
}

/* ---- server ---- */

int http_parse_listen(const char *listen, char *host, size_t host_cap, int *port, pt_err *err)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (colon && listen[0] == '[') {
        if (hlen < 2 || listen[hlen - 1] != ']')
            return pt_fail(err, PT_EINVAL, "listen address '%s': expected [IPv6]:port", listen);
        h++, hlen -= 2;
    }
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || !colon[1] || *end || p < 0 || p > 65535)
        return pt_fail(err, PT_EINVAL, "listen address '%s': expected host:port with a port 0-65535", listen);
    if (hlen >= host_cap)
        return pt_fail(err, PT_EINVAL, "listen address '%s': host too long", listen);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

int http_start(http_server **out, const http_config *cfg, pt_err *err)
{
    *out = NULL;
    char host[256];
    int port;
    int rc = http_parse_listen(cfg->listen, host, sizeof host, &port, err);
    if (rc)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int gai = getaddrinfo(host[0] ? host : NULL, "0", &hints, &ai);
    if (gai)
        return pt_fail(err, PT_EINVAL, "listen address '%s': %s", cfg->listen, gai_strerror(gai));
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    bool v6 = addr.ss_family == AF_INET6;
    if (v6)
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);

    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->listen_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                            NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    if (!s->d) {
        http_stop(s);
        return pt_fail(err, PT_EIO, "cannot listen on %s (address in use or not available?)", cfg->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    *out = s;
    return 0;
}

int http_port(const http_server *s) { return s->port; }

bool http_draining(const http_server *s) { return atomic_load(&s->draining); }

void http_quiesce(http_server *s)
{
    if (atomic_exchange(&s->draining, true))
        return;
    /* The socket must stay open until MHD_stop_daemon; shutting it down refuses new connections now
     * (a merely quiesced socket would still complete handshakes that nobody accepts). */
    s->listen_fd = MHD_quiesce_daemon(s->d);
    if (s->listen_fd != MHD_INVALID_SOCKET)
        shutdown(s->listen_fd, SHUT_RDWR);
}

bool http_wait_idle(http_server *s, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->active) > 0)
        if (pthread_cond_timedwait(&s->idle, &s->mu, &until) == ETIMEDOUT)
            break;
    bool idle = atomic_load(&s->active) == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->listen_fd != MHD_INVALID_SOCKET)
        close(s->listen_fd);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
