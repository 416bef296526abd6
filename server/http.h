/* http — the daemon's HTTP layer over libmicrohttpd: a routing table, and every rule that does not
 * depend on what a route does.
 *
 * Before a handler runs, the request has passed, in this order: routing (unknown path → 404
 * `not_found`; known path, other method → 405 `method_not_allowed` with `Allow`), the API key check
 * (401 `unauthorized` / 403 `forbidden`; routes of scope HTTP_OPEN skip it), the content type (415
 * `unsupported_media_type` unless it is one the route accepts), and the body size limit (413
 * `body_too_large`, answered as soon as Content-Length or the streamed bytes pass it, without reading
 * the rest). Every response carries `X-Request-Id` (the client's when it sent a sane one) and errors are
 * JSON {"error": {"code", "message", ...details}}. One log line per request (text or JSON): method,
 * path, status, bytes, duration, request id.
 *
 * Threads: one per connection, so a handler may block (classify waits for its batch). Draining
 * (http_quiesce, then http_wait_idle) stops accepting connections, lets requests on open connections
 * finish (answering with `Connection: close`), and returns when none is in flight or the timeout passes.
 */
#ifndef PT_HTTP_H
#define PT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "err.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Who may call a route. */
typedef enum http_scope {
    HTTP_OPEN,     /* probes and /metrics: no key needed even when keys are configured */
    HTTP_READ,     /* any valid key */
    HTTP_CLASSIFY, /* any valid key (classify keys exist for this) */
    HTTP_ADMIN,    /* admin keys only */
} http_scope;

/* Body kinds a route accepts (bit set); 0 = the route takes no body (one sent is ignored). */
enum {
    HTTP_BODY_JSON = 1,      /* application/json */
    HTTP_BODY_TSV = 2,       /* text/tab-separated-values, text/plain */
    HTTP_BODY_MULTIPART = 4, /* multipart/form-data */
    HTTP_BODY_TAR = 8,       /* application/x-tar, application/octet-stream */
};

typedef void (*http_handler)(http_req *req, void *app);

typedef struct http_route {
    const char *method;
    const char *pattern; /* "/tasks/{id}/cancel": a {name} segment matches any one segment */
    http_scope scope;
    unsigned bodies;
    http_handler handle;
} http_route;

typedef enum http_log_format { HTTP_LOG_TEXT, HTTP_LOG_JSON } http_log_format;

/* Called once per finished request (for metrics). route is the matched pattern or "unmatched". */
typedef void (*http_observer)(void *app, const char *method, const char *route, int status, double seconds);

typedef struct http_config {
    const char *listen;    /* "host:port" (IPv4 or [IPv6]); port 0 picks a free one */
    size_t max_body;       /* bytes */
    const http_route *routes;
    int n_routes;
    const auth_keys *keys; /* NULL: no authentication */
    http_log_format log_format;
    void *app;             /* passed to handlers and the observer */
    http_observer observe; /* may be NULL */
} http_config;

/* Parses "host:port" / "[v6]:port" (port 0..65535). */
int http_parse_listen(const char *listen, char *host, size_t host_cap, int *port, pt_err *err);

int http_start(http_server **out, const http_config *cfg, pt_err *err);
int http_port(const http_server *s);
bool http_draining(const http_server *s);
/* Stops accepting connections; requests on open connections are still served, with Connection: close. */
void http_quiesce(http_server *s);
/* Waits (up to timeout_ms) until no request is in flight; false on timeout. */
bool http_wait_idle(http_server *s, int timeout_ms);
void http_stop(http_server *s);

/* ---- inside a handler ---- */

const char *http_method(const http_req *r);
const char *http_path(const http_req *r);
/* A {name} segment of the matched pattern, or NULL. */
const char *http_param(const http_req *r, const char *name);
const char *http_query(const http_req *r, const char *name);
const char *http_header(const http_req *r, const char *name);
const char *http_body(const http_req *r, size_t *len);
/* The HTTP_BODY_* kind of the request's content type (0 when it sent none). */
unsigned http_body_kind(const http_req *r);
const char *http_content_type(const http_req *r);
const char *http_request_id(const http_req *r);
auth_scope http_caller_scope(const http_req *r);

/* A {name} path segment as a positive id; on failure replies 404 and returns false. */
bool http_param_id(http_req *r, const char *name, int64_t *id);

/* Parses the JSON body (an object); on failure replies 400 `malformed_json` (with line and column)
 * and returns NULL. */
json_t *http_json_body(http_req *r);

/* Adds a header to the response being built. */
void http_set_header(http_req *r, const char *name, const char *value);

/* Replies (once per request; later calls are ignored). body is stolen. */
void http_reply_json(http_req *r, int status, json_t *body);
void http_reply_bytes(http_req *r, int status, const char *content_type, const void *data, size_t len);

/* {"error": {"code": code, "message": ..., ...details}}; details (may be NULL) is stolen and merged. */
void http_reply_error(http_req *r, int status, const char *code, json_t *details, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Maps a pt_err to a status and code (PT_ENOTFOUND 404 not_found, PT_ECONFLICT 409 conflict,
 * PT_EINVAL/PT_EFORMAT 422 invalid_value, PT_ELIMIT 422 limit_exceeded, PT_EMISMATCH 409 mismatch,
 * PT_EIO/PT_ENOMEM 500 internal) with err's line/offset/field as details. */
void http_reply_err(http_req *r, const pt_err *err);

#endif
