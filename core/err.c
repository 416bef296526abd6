#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pt_err_clear(pt_err *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->offset = -1;
}

int pt_fail(pt_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int pt_err_prefix(pt_err *err, const char *fmt, ...)
{
    if (!err)
        return PT_EINVAL;
    char buf[2 * sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    size_t used = strlen(buf);
    used += (size_t)snprintf(buf + used, sizeof buf - used, ": %s", err->msg);
    if (used >= sizeof err->msg)
        used = sizeof err->msg - 1;
    memcpy(err->msg, buf, used);
    err->msg[used] = '\0';
    return err->code;
}

const char *pt_err_name(int code)
{
    switch (code) {
    case PT_OK: return "ok";
    case PT_EINVAL: return "invalid";
    case PT_EIO: return "io";
    case PT_ENOMEM: return "out_of_memory";
    case PT_EFORMAT: return "format";
    case PT_ECANCELLED: return "cancelled";
    case PT_ENOTFOUND: return "not_found";
    case PT_ELIMIT: return "limit";
    case PT_EMISMATCH: return "mismatch";
    case PT_ECONFLICT: return "conflict";
    default: return "error";
    }
}
