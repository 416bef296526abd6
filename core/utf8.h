/* utf8 — strict UTF-8 decoding (RFC 3629): the one place that decides what is valid text.
 *
 * Rejected, each with its own reason: a byte that cannot start a character, a sequence cut short
 * (by the end of input or by a byte that is not a continuation), an overlong encoding, a UTF-16
 * surrogate (U+D800..U+DFFF), and anything above U+10FFFF.
 */
#ifndef PT_UTF8_H
#define PT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s[0] (len > 0 bytes available). Returns its length in bytes (1..4) and
 * stores the code point, or returns 0 and points *why at a short reason ("overlong encoding"). */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp, const char **why);

/* Writes cp (at most U+10FFFF, not a surrogate) as 1..4 bytes to out; returns the count. */
size_t utf8_encode(uint32_t cp, char *out);

#endif
