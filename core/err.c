#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

void pt_err_clear(pt_err *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->offset = -1;
}

/* Messages quote input (a JSON parser's view of the bad text, a label, a file name) and end up in
 * log lines, terminals and JSON strings, so they are kept one line of valid UTF-8 whatever they quote:
 * a control character becomes a space and each byte of an ill-formed sequence (also one cut by the
 * size limit) a '?'. */
static void one_clean_line(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const char *why;
        size_t k = utf8_decode(u + i, n - i, &cp, &why);
        if (k == 0) {
            u[i++] = '?';
            continue;
        }
        if (cp < 0x20 || cp == 0x7f)
            u[i] = ' ';
        i += k;
    }
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
    one_clean_line(err->msg);
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
    one_clean_line(err->msg);
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
