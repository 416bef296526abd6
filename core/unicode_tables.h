/* unicode_tables — the Unicode properties the BERT tokenizer needs, as CPython computes them.
 *
 * unicode_tables.c is generated from the Unicode Character Database by gen_unicode_tables.py
 * (`make tables`); see that script for how each property is derived. Code points not listed in
 * UnicodeData.txt (and anything past U+10FFFF) are unassigned: category Cn, so UNI_CONTROL.
 *
 * str.lower()'s one context rule, Final_Sigma for U+03A3, is not in uni_lower: the caller applies
 * it with UNI_CASED / UNI_CASE_IGNORABLE, as CPython does.
 */
#ifndef PT_UNICODE_TABLES_H
#define PT_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

enum {
    UNI_CONTROL = 1 << 0,         /* general category C* (Cc Cf Cs Co Cn) */
    UNI_ZS = 1 << 1,              /* general category Zs */
    UNI_PUNCT = 1 << 2,           /* general category P* */
    UNI_MN = 1 << 3,              /* general category Mn */
    UNI_PYSPACE = 1 << 4,         /* Python str.isspace(): bidi class WS, B or S, or category Zs */
    UNI_CASED = 1 << 5,           /* derived property Cased */
    UNI_CASE_IGNORABLE = 1 << 6,  /* derived property Case_Ignorable */
    UNI_LOWER = 1 << 7,           /* has a lowercase mapping other than itself */
    UNI_DECOMP = 1 << 8,          /* has a canonical decomposition in the table (not Hangul) */
};

#define UNI_MAX_LOWER 2  /* longest full lowercase mapping */
#define UNI_MAX_DECOMP 4 /* longest full canonical decomposition */

/* The UCD version the tables were generated from, e.g. "15.0.0". */
extern const char uni_version[];

/* UNI_* flags of a code point. */
unsigned uni_flags(uint32_t cp);
/* Canonical combining class. */
unsigned uni_ccc(uint32_t cp);
/* Full lowercase mapping (SpecialCasing's unconditional entries, else the simple mapping, else cp
 * itself) into out; returns its length. */
size_t uni_lower(uint32_t cp, uint32_t out[UNI_MAX_LOWER]);
/* Full canonical decomposition (recursively expanded, Hangul included) into out, not reordered;
 * returns its length (1 and cp itself when there is none). */
size_t uni_decompose(uint32_t cp, uint32_t out[UNI_MAX_DECOMP]);

#endif
