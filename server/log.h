/* log — the daemon's event lines on stderr (requests log their own line in http.c): as text,
 * "TS LEVEL EVENT: detail", or as one JSON object per line {"ts", "level", "msg", "detail"}, so that a
 * log collector sees one format whatever happened. */
#ifndef PT_LOG_H
#define PT_LOG_H

#include "http.h"

void log_event(http_log_format f, const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
