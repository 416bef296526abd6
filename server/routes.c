/* The routing table: every route the daemon serves. schema/openapi.yaml documents exactly these
 * (tests/test-openapi.c compares the two). */
#include "app.h"

#define ANY_TSV (HTTP_BODY_TSV | HTTP_BODY_MULTIPART)

const http_route app_routes[] = {
    {"GET", "/healthz", HTTP_OPEN, 0, route_healthz},
    {"GET", "/readyz", HTTP_OPEN, 0, route_readyz},
    {"GET", "/metrics", HTTP_OPEN, 0, route_metrics},
    {"GET", "/info", HTTP_READ, 0, route_info},
    {"GET", "/openapi.yaml", HTTP_READ, 0, route_openapi},

    {"POST", "/datasets", HTTP_ADMIN, ANY_TSV, route_dataset_create},
    {"GET", "/datasets", HTTP_READ, 0, route_dataset_list},
    {"GET", "/datasets/{id}", HTTP_READ, 0, route_dataset_get},
    {"DELETE", "/datasets/{id}", HTTP_ADMIN, 0, route_dataset_delete},
    {"GET", "/datasets/{id}/rows", HTTP_READ, 0, route_dataset_rows},

    {"POST", "/tasks", HTTP_ADMIN, HTTP_BODY_JSON, route_task_create},
    {"GET", "/tasks", HTTP_READ, 0, route_task_list},
    {"POST", "/tasks/import", HTTP_ADMIN, HTTP_BODY_TAR, route_task_import},
    {"GET", "/tasks/{id}", HTTP_READ, 0, route_task_get},
    {"DELETE", "/tasks/{id}", HTTP_ADMIN, 0, route_task_delete},
    {"POST", "/tasks/{id}/cancel", HTTP_ADMIN, 0, route_task_cancel},
    {"GET", "/tasks/{id}/adapter", HTTP_READ, 0, route_task_adapter},

    {"POST", "/classify", HTTP_CLASSIFY, HTTP_BODY_JSON, route_classify},
};

const int app_n_routes = sizeof app_routes / sizeof app_routes[0];
