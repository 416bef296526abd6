/* Unit tests for server/http: a real server on a loopback port with a small routing table, driven over
 * raw sockets — routing, 404/405 with Allow, content types, body limits (declared and streamed),
 * request ids, API key scopes, JSON errors, draining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static void echo(http_req *r, void *app)
{
    (void)app;
    size_t len;
    const char *body = http_body(r, &len);
    const char *id = http_param(r, "id");
    http_reply_json(r, 200, json_pack("{s:s, s:s?, s:I, s:s?, s:s}", "method", http_method(r), "id", id, "len",
                                      (json_int_t)len, "q", http_query(r, "q"), "scope",
                                      auth_scope_name(http_caller_scope(r))));
    (void)body;
}

static void json_in(http_req *r, void *app)
{
    (void)app;
    json_t *b = http_json_body(r);
    if (b)
        http_reply_json(r, 201, b);
}

static atomic_int slow_entered;

static void slow(http_req *r, void *app)
{
    (void)app;
    atomic_store(&slow_entered, 1);
    usleep(300 * 1000);
    http_reply_json(r, 200, json_pack("{s:b}", "slow", 1));
}

static const http_route routes[] = {
    {"GET", "/open", HTTP_OPEN, 0, echo},
    {"GET", "/things/{id}", HTTP_READ, 0, echo},
    {"DELETE", "/things/{id}", HTTP_ADMIN, 0, echo},
    {"POST", "/json", HTTP_CLASSIFY, HTTP_BODY_JSON, json_in},
    {"POST", "/upload", HTTP_ADMIN, HTTP_BODY_TSV | HTTP_BODY_MULTIPART, echo},
    {"GET", "/slow", HTTP_OPEN, 0, slow},
};

static http_server *start(const auth_keys *keys)
{
    http_config c = {.listen = "127.0.0.1:0", .max_body = 1000, .routes = routes, .n_routes = 6, .keys = keys};
    http_server *s;
    pt_err e;
    pt_err_clear(&e);
    if (http_start(&s, &c, &e))
        fail_msg("http_start: %s", e.msg);
    return s;
}

typedef struct reply {
    int status;
    char headers[4096];
    char body[8192];
} reply;

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends raw bytes on a new connection (Connection: close) and parses the answer. */
static void raw(int port, const char *req, size_t len, reply *out)
{
    int fd = connect_to(port);
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer early and close: read what it said */
        sent += (size_t)n;
    }
    static char buf[65536];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    memset(out, 0, sizeof *out);
    assert_true(sscanf(buf, "HTTP/1.1 %d", &out->status) == 1);
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    snprintf(out->headers, sizeof out->headers, "%.*s", (int)(sep - buf), buf);
    snprintf(out->body, sizeof out->body, "%s", sep + 4);
}

static void request(int port, const char *method, const char *path, const char *extra_headers, const char *body,
                    reply *out)
{
    char req[16384];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s", method, path,
                     extra_headers ? extra_headers : "");
    if (body)
        n += snprintf(req + n, sizeof req - (size_t)n, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    else
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    raw(port, req, (size_t)n, out);
}

static json_t *body_json(const reply *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s", r->body);
    return j;
}

static const char *error_code(const reply *r)
{
    static char code[64];
    json_t *j = body_json(r);
    snprintf(code, sizeof code, "%s", json_string_value(json_object_get(json_object_get(j, "error"), "code")));
    json_decref(j);
    return code;
}

static void test_routing_and_errors(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    int port = http_port(s);
    assert_true(port > 0);
    reply r;

    request(port, "GET", "/things/42?q=x%20y", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
    assert_string_equal(json_string_value(json_object_get(j, "q")), "x y");
    assert_string_equal(json_string_value(json_object_get(j, "scope")), "admin"); /* no keys: everything */
    json_decref(j);
    assert_non_null(strstr(r.headers, "X-Request-Id: "));

    request(port, "GET", "/nothing", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(error_code(&r), "not_found");
    request(port, "GET", "/things", NULL, NULL, &r);
    assert_int_equal(r.status, 404);

    request(port, "PUT", "/things/7", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(error_code(&r), "method_not_allowed");
    assert_non_null(strstr(r.headers, "Allow: GET, DELETE"));

    request(port, "POST", "/json", "Content-Type: text/plain\r\n", "{}", &r);
    assert_int_equal(r.status, 415);
    assert_string_equal(error_code(&r), "unsupported_media_type");
    request(port, "POST", "/json", NULL, "{}", &r);
    assert_int_equal(r.status, 415);

    request(port, "POST", "/json", "Content-Type: application/json; charset=utf-8\r\n", "{\"a\": [1, 2]}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"a\":[1,2]}\n");

    request(port, "POST", "/json", "Content-Type: application/json\r\n", "{\"a\": \n[1, }", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(&r), "malformed_json");
    j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "line")), 2);
    json_decref(j);
    request(port, "POST", "/json", "Content-Type: application/json\r\n", "[1]", &r);
    assert_int_equal(r.status, 400);
    request(port, "POST", "/json", "Content-Type: application/json\r\n", "{\"a\":1,\"a\":2}", &r);
    assert_int_equal(r.status, 400);

    request(port, "POST", "/upload", "Content-Type: text/tab-separated-values\r\n", "a\tb\n", &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 4);
    json_decref(j);
    http_stop(s);
}

static void test_body_limit(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    int port = http_port(s);
    reply r;
    char big[1002];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* Declared too large: refused before the body is read. */
    request(port, "POST", "/upload", "Content-Type: text/plain\r\n", big, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(error_code(&r), "body_too_large");
    big[1000] = '\0'; /* exactly the limit is fine */
    request(port, "POST", "/upload", "Content-Type: text/plain\r\n", big, &r);
    assert_int_equal(r.status, 200);

    /* Streamed (chunked, no length): refused once the bytes pass the limit. */
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "190\r\n%.400s\r\n", big);
    n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    raw(port, req, (size_t)n, &r);
    assert_int_equal(r.status, 413);
    http_stop(s);
}

static void test_request_ids(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    int port = http_port(s);
    reply r;
    request(port, "GET", "/open", "X-Request-Id: abc-123.x\r\n", NULL, &r);
    assert_non_null(strstr(r.headers, "X-Request-Id: abc-123.x"));
    /* An id with spaces or quotes is not echoed (it would corrupt logs): a fresh one is made. */
    request(port, "GET", "/open", "X-Request-Id: bad id\"\r\n", NULL, &r);
    const char *h = strstr(r.headers, "X-Request-Id: ");
    assert_non_null(h);
    assert_null(strstr(r.headers, "bad id"));
    assert_int_equal(strspn(h + 14, "0123456789abcdef"), 32);
    /* Error responses carry it too. */
    request(port, "GET", "/missing", "X-Request-Id: err-1\r\n", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.headers, "X-Request-Id: err-1"));
    http_stop(s);
}

static void test_api_keys(void **state)
{
    (void)state;
    static const char keys_text[] = "admin-key-0123456789 admin\nclassify-key-0123456789 classify\n";
    auth_keys *keys;
    pt_err e;
    assert_int_equal(auth_parse(&keys, keys_text, sizeof keys_text - 1, &e), 0);
    http_server *s = start(keys);
    int port = http_port(s);
    reply r;
    request(port, "GET", "/open", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    request(port, "GET", "/things/1", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_code(&r), "unauthorized");
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
    request(port, "GET", "/things/1", "Authorization: Bearer wrong-key-0123456789\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    request(port, "GET", "/things/1", "Authorization: Bearer classify-key-0123456789\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    request(port, "POST", "/json", "Authorization: Bearer classify-key-0123456789\r\nContent-Type: application/json\r\n",
            "{}", &r);
    assert_int_equal(r.status, 201);
    request(port, "DELETE", "/things/1", "Authorization: Bearer classify-key-0123456789\r\n", NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r), "forbidden");
    request(port, "DELETE", "/things/1", "Authorization: Bearer admin-key-0123456789\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    /* Auth comes before the content type: no hint about the route's body to an unauthenticated caller. */
    request(port, "POST", "/upload", "Content-Type: application/zip\r\n", "x", &r);
    assert_int_equal(r.status, 401);
    http_stop(s);
    auth_free(keys);
}

typedef struct slow_call {
    int port;
    reply r;
} slow_call;

static void *call_slow(void *arg)
{
    slow_call *c = arg;
    request(c->port, "GET", "/slow", NULL, NULL, &c->r);
    return NULL;
}

static void test_drain_finishes_requests_in_flight(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    slow_call c = {.port = http_port(s)};
    pthread_t t;
    pthread_create(&t, NULL, call_slow, &c);
    for (int i = 0; i < 5000 && !atomic_load(&slow_entered); i++)
        usleep(1000);
    assert_true(atomic_load(&slow_entered)); /* the request is in the handler now */
    http_quiesce(s);
    assert_true(http_draining(s));
    /* No new connections... */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    /* ...but the one in flight completes. */
    assert_true(http_wait_idle(s, 5000));
    pthread_join(t, NULL);
    assert_int_equal(c.r.status, 200);
    assert_non_null(strstr(c.r.body, "\"slow\":true"));
    http_stop(s);
}

static void test_parse_listen(void **state)
{
    (void)state;
    char host[64];
    int port;
    pt_err e;
    assert_int_equal(http_parse_listen("127.0.0.1:8080", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(http_parse_listen("[::1]:0", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(http_parse_listen(":9000", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "");
    assert_int_equal(http_parse_listen("localhost", host, sizeof host, &port, &e), PT_EINVAL);
    assert_int_equal(http_parse_listen("h:70000", host, sizeof host, &port, &e), PT_EINVAL);
    assert_int_equal(http_parse_listen("h:12x", host, sizeof host, &port, &e), PT_EINVAL);
    assert_int_equal(http_parse_listen("[::1:80", host, sizeof host, &port, &e), PT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_and_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_api_keys),
        cmocka_unit_test(test_drain_finishes_requests_in_flight),
        cmocka_unit_test(test_parse_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
