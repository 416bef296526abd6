#!/usr/bin/env python3
"""Checks a dump of core/unicode_tables against Python's own Unicode database, code point by code point.

usage: unicode_props_ref.py DUMP [UCD_DIR]
DUMP lines (written by tests/test-unicode-tables.c), one per code point except surrogates:
  CP CLASSES LOWER NFD CCC SIGMA
  CP       hex code point
  CLASSES  five letters or '-': C (category C*), Z (Zs), P (P*), M (Mn), S (str.isspace)
  LOWER    str.lower() of the character alone, hex code points joined by ','
  NFD      unicodedata.normalize("NFD") of the character alone, same format
  CCC      unicodedata.combining
  SIGMA    two digits: what str.lower() does to U+03A3 next to the character, seen through
           "ch + 'Σ'" (final iff cased and not case-ignorable) and "'Α' + ch + 'Σ'" (final iff cased
           or case-ignorable): the only two things Cased / Case_Ignorable decide in str.lower()
Code points Python 3.11 (Unicode 14.0) does not know are expected to be plain C*; those new in the
C tables' UCD (UCD_DIR/DerivedAge.txt, default /usr/share/unicode) are skipped, since they differ
between the versions by construction. Exit 1 and a list of the first differences on any mismatch.
"""
import os
import sys
import unicodedata


def hexes(s):
    return ",".join("%X" % ord(c) for c in s)


def expected(ch):
    cat = unicodedata.category(ch)
    classes = "".join(letter if cond else "-" for letter, cond in (
        ("C", cat[0] == "C"), ("Z", cat == "Zs"), ("P", cat[0] == "P"), ("M", cat == "Mn"), ("S", ch.isspace())))
    sigma = "%d%d" % ((ch + "\u03a3").lower()[-1] == "\u03c2", ("\u0391" + ch + "\u03a3").lower()[-1] == "\u03c2")
    return "%X %s %s %s %d %s" % (ord(ch), classes, hexes(ch.lower()), hexes(unicodedata.normalize("NFD", ch)),
                                  unicodedata.combining(ch), sigma)


def newer_code_points(ucd):
    path = os.path.join(ucd, "DerivedAge.txt")
    if not os.path.exists(path):
        return None
    ours = tuple(int(x) for x in unicodedata.unidata_version.split("."))
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, age = (s.strip() for s in line.split(";"))
            if tuple(int(x) for x in (age + ".0").split(".")[:3]) <= ours:
                continue
            lo, _, hi = rng.partition("..")
            out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


def main():
    dump = sys.argv[1]
    newer = newer_code_points(sys.argv[2] if len(sys.argv) > 2 else "/usr/share/unicode")
    if newer is None:
        print("note: no DerivedAge.txt, code points unknown to Python are not checked")
    compared = skipped = 0
    bad = []
    with open(dump, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            cp = int(line.split(" ", 1)[0], 16)
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn" and (newer is None or cp in newer):
                skipped += 1
                continue
            want = expected(ch)
            compared += 1
            if line != want:
                bad.append("U+%04X: tables %r, python %r" % (cp, line, want))
    print("unicode tables vs Python %s (UCD %s): %d code points compared, %d newer ones skipped, %d differ"
          % (sys.version.split()[0], unicodedata.unidata_version, compared, skipped, len(bad)))
    for b in bad[:20]:
        print(b)
    enough = 1000000 if newer is not None else 250000  # all code points, or only those Python knows
    sys.exit(1 if bad or compared < enough else 0)


if __name__ == "__main__":
    main()
