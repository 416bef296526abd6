#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

void log_event(http_log_format f, const char *level, const char *event, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    if (f == HTTP_LOG_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level, "msg", event, "detail", detail);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text)
            fprintf(stderr, "%s\n", text);
        else /* a detail quoting invalid UTF-8: keep the event */
            fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level, event);
        free(text);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %s %s%s%s\n", ts, level, event, detail[0] ? ": " : "", detail);
    }
}
