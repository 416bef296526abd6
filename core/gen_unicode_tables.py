#!/usr/bin/env python3
"""Prints core/unicode_tables.c: the Unicode properties the BERT tokenizer needs, from the UCD.

usage: gen_unicode_tables.py UCD_DIR > core/unicode_tables.c   (UCD_DIR: /usr/share/unicode, Debian unicode-data)

Everything is derived the way CPython's Tools/unicode/makeunicodedata.py derives what str.lower(),
str.isspace(), unicodedata.category() and unicodedata.normalize("NFD") use, because the reference
tokenizer is Python code:
  - general category classes: C* (control), Zs, P*, Mn;
  - "Python space": bidirectional class WS, B or S, or category Zs (str.isspace / str.split);
  - Cased and Case_Ignorable (DerivedCoreProperties), for str.lower()'s Final_Sigma rule;
  - full lowercase: SpecialCasing entries without a condition, else the simple mapping;
  - canonical decomposition, fully expanded (Hangul syllables are left to the algorithm in C);
  - canonical combining class.
Only code points listed in UnicodeData.txt have properties; all others are unassigned (Cn).

Lookup is a two-stage table: stage1[cp >> SHIFT] picks a deduplicated block of 1 << SHIFT record
indices; a record holds the flags and the combining class. Code points with a lowercase mapping or a
decomposition are also in sorted key arrays (binary search, only when the flag says so).
Python's standard library only.
"""
import os
import sys

SHIFT = 7
MAX_CP = 0x110000
HANGUL_S_BASE, HANGUL_S_COUNT = 0xAC00, 11172

# The flag bits, as in unicode_tables.h.
F_CONTROL, F_ZS, F_PUNCT, F_MN, F_PYSPACE, F_CASED, F_CASE_IGN, F_LOWER, F_DECOMP = (1 << i for i in range(9))


def read_unicode_data(path):
    """Yields (cp, fields) for every assigned code point, expanding First/Last ranges."""
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    yield c, fields
                first = None
                continue
            yield cp, fields


def read_property_ranges(path, wanted):
    """Returns {property: set(cp)} for the named binary properties of a UCD property file."""
    out = {p: set() for p in wanted}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, prop = (s.strip() for s in line.split(";")[:2])
            if prop not in out:
                continue
            lo, _, hi = rng.partition("..")
            out[prop].update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


def read_special_lower(path):
    """Unconditional full lowercase mappings (conditional ones are language- or context-specific;
    CPython ignores them all and handles Final_Sigma in code, as unicode_tables.h documents)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [s.strip() for s in line.split(";")]
            if fields[4]:
                continue
            out[int(fields[0], 16)] = [int(x, 16) for x in fields[1].split()]
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_unicode_tables.py UCD_DIR")
    ucd = sys.argv[1]
    with open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8") as f:
        version = f.readline().strip("# \n").replace("DerivedAge-", "").replace(".txt", "")

    cat, ccc, bidi, decomp, simple_lower = {}, {}, {}, {}, {}
    for cp, fields in read_unicode_data(os.path.join(ucd, "UnicodeData.txt")):
        cat[cp] = fields[2]
        ccc[cp] = int(fields[3])
        bidi[cp] = fields[4]
        if fields[5] and not fields[5].startswith("<"):
            decomp[cp] = [int(x, 16) for x in fields[5].split()]
        if fields[13]:
            simple_lower[cp] = int(fields[13], 16)
    core = read_property_ranges(os.path.join(ucd, "DerivedCoreProperties.txt"), ("Cased", "Case_Ignorable"))
    special = read_special_lower(os.path.join(ucd, "SpecialCasing.txt"))

    def full_decomposition(cp):
        if cp not in decomp:
            return [cp]
        return [d for c in decomp[cp] for d in full_decomposition(c)]

    lower, full_decomp, flags = {}, {}, {}
    for cp in cat:
        low = special.get(cp, [simple_lower.get(cp, cp)])
        if low != [cp]:
            lower[cp] = low
        if cp in decomp and not HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT:
            full_decomp[cp] = full_decomposition(cp)
        g = cat[cp]
        flags[cp] = ((F_CONTROL if g[0] == "C" else 0) | (F_ZS if g == "Zs" else 0) |
                     (F_PUNCT if g[0] == "P" else 0) | (F_MN if g == "Mn" else 0) |
                     (F_PYSPACE if bidi[cp] in ("WS", "B", "S") or g == "Zs" else 0) |
                     (F_CASED if cp in core["Cased"] else 0) |
                     (F_CASE_IGN if cp in core["Case_Ignorable"] else 0) |
                     (F_LOWER if cp in lower else 0) | (F_DECOMP if cp in full_decomp else 0))

    # The tokenizer splits words on Python spaces and drops controls before lower-casing and
    # decomposing the rest; it relies on neither step turning a word character into a space or a
    # control character (the reference would split or drop those again).
    for src in (lower, full_decomp):
        for cp, seq in src.items():
            if flags[cp] & (F_PYSPACE | F_CONTROL):
                continue
            for c in seq:
                assert not flags.get(c, F_CONTROL) & (F_PYSPACE | F_CONTROL), (hex(cp), hex(c))

    # Unassigned code points: category Cn (a control class), no other property.
    records, record_index = [], {}
    def record(cp):
        key = (flags.get(cp, F_CONTROL), ccc.get(cp, 0))
        if key not in record_index:
            record_index[key] = len(records)
            records.append(key)
        return record_index[key]

    blocks, block_index, stage1 = [], {}, []
    for base in range(0, MAX_CP, 1 << SHIFT):
        block = tuple(record(cp) for cp in range(base, base + (1 << SHIFT)))
        if block not in block_index:
            block_index[block] = len(blocks)
            blocks.append(block)
        stage1.append(block_index[block])
    assert len(records) <= 256 and len(blocks) <= 65536
    assert 0x10FFFF not in cat

    out = sys.stdout
    w = out.write
    w("/* Generated by core/gen_unicode_tables.py from the Unicode Character Database %s\n" % version)
    w(" * (Debian unicode-data). Do not edit: run `make tables`. */\n")
    w('#include "unicode_tables.h"\n\n#include <stddef.h>\n\n')
    w("#define SHIFT %d\n#define UNASSIGNED %d /* the record of every code point UnicodeData.txt omits */\n\n"
      % (SHIFT, record(0x10FFFF)))
    longest = {"lower": max(map(len, lower.values())), "decomp": max(map(len, full_decomp.values()))}
    w("_Static_assert(UNI_MAX_LOWER == %d, \"the longest lowercase mapping\");\n" % longest["lower"])
    w("_Static_assert(UNI_MAX_DECOMP == %d, \"the longest decomposition\");\n\n" % longest["decomp"])
    w("const char uni_version[] = \"%s\";\n\n" % version)
    w("static const struct { uint16_t flags; uint8_t ccc; } records[%d] = {\n" % len(records))
    for f_, c_ in records:
        w("    {0x%03x, %d},\n" % (f_, c_))
    w("};\n\n")
    emit_array(w, "uint16_t", "stage1", stage1)
    emit_array(w, "uint8_t", "stage2", [r for b in blocks for r in b])
    for name, table in (("lower", lower), ("decomp", full_decomp)):
        keys, width = sorted(table), longest[name]
        emit_array(w, "uint32_t", name + "_keys", keys, hexa=True)
        w("static const uint32_t %s_values[%d][UNI_MAX_%s] = {\n" % (name, len(keys), name.upper()))
        for k in keys:
            vals = table[k] + [0] * (width - len(table[k]))
            w("    {%s},\n" % ", ".join("0x%04X" % v for v in vals))
        w("};\n\n")
    w(ACCESSORS)


def emit_array(w, ctype, name, values, hexa=False):
    w("static const %s %s[%d] = {\n" % (ctype, name, len(values)))
    per = 12 if hexa else 20
    for i in range(0, len(values), per):
        chunk = values[i:i + per]
        w("    " + ", ".join(("0x%04X" % v) if hexa else str(v) for v in chunk) + ",\n")
    w("};\n\n")


ACCESSORS = r"""
static size_t find(const uint32_t *keys, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static unsigned record_of(uint32_t cp)
{
    if (cp >= 0x110000)
        return UNASSIGNED;
    return stage2[((size_t)stage1[cp >> SHIFT] << SHIFT) | (cp & ((1u << SHIFT) - 1))];
}

unsigned uni_flags(uint32_t cp)
{
    return records[record_of(cp)].flags;
}

unsigned uni_ccc(uint32_t cp)
{
    return records[record_of(cp)].ccc;
}

static size_t copy_mapping(const uint32_t *vals, size_t width, uint32_t *out)
{
    size_t n = 0;
    while (n < width && vals[n])
        out[n] = vals[n], n++;
    return n;
}

size_t uni_lower(uint32_t cp, uint32_t out[UNI_MAX_LOWER])
{
    if (!(uni_flags(cp) & UNI_LOWER)) {
        out[0] = cp;
        return 1;
    }
    size_t n = sizeof lower_keys / sizeof lower_keys[0];
    return copy_mapping(lower_values[find(lower_keys, n, cp)], UNI_MAX_LOWER, out);
}

size_t uni_decompose(uint32_t cp, uint32_t out[UNI_MAX_DECOMP])
{
    /* Hangul syllables decompose algorithmically (Unicode 15.0, section 3.12). */
    const uint32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
    const uint32_t v_count = 21, t_count = 28, s_count = 11172;
    if (cp - s_base < s_count) {
        uint32_t s = cp - s_base;
        out[0] = l_base + s / (v_count * t_count);
        out[1] = v_base + s % (v_count * t_count) / t_count;
        if (s % t_count == 0)
            return 2;
        out[2] = t_base + s % t_count;
        return 3;
    }
    if (!(uni_flags(cp) & UNI_DECOMP)) {
        out[0] = cp;
        return 1;
    }
    size_t n = sizeof decomp_keys / sizeof decomp_keys[0];
    return copy_mapping(decomp_values[find(decomp_keys, n, cp)], UNI_MAX_DECOMP, out);
}
"""

if __name__ == "__main__":
    main()
