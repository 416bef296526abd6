#include "utf8.h"

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp, const char **why)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b >= 0xC0 && b <= 0xDF)
        n = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF)
        n = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF7)
        n = 4, c = b & 0x07, min = 0x10000;
    else {
        *why = b < 0xC0 ? "unexpected continuation byte" : "byte cannot start a character";
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= len || (s[i] & 0xC0) != 0x80) {
            *why = "truncated sequence";
            return 0;
        }
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min) {
        *why = "overlong encoding";
        return 0;
    }
    if (c >= 0xD800 && c <= 0xDFFF) {
        *why = "UTF-16 surrogate";
        return 0;
    }
    if (c > 0x10FFFF) {
        *why = "code point above U+10FFFF";
        return 0;
    }
    *cp = c;
    return n;
}

size_t utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
