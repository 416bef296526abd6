#!/bin/sh
# Runs every test program given as an argument, then every tests/integration/test-*.sh and
# tests/integration/test_*.py, and prints one summary line: "N passed, N failed, N skipped".
# Each program's own output goes to the terminal; a program that exits 77 counts as skipped.
passed=0; failed=0; skipped=0; failures=""
run() {
    name=$1; shift
    printf '== %s\n' "$name"
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then passed=$((passed + 1))
    elif [ $rc -eq 77 ]; then skipped=$((skipped + 1))
    else failed=$((failed + 1)); failures="$failures $name"
    fi
}
for t in "$@"; do run "$(basename "$t")" "$t"; done
for t in "$PTUNE_SRC"/tests/integration/test-*.sh; do [ -f "$t" ] && run "$(basename "$t")" sh "$t"; done
for t in "$PTUNE_SRC"/tests/integration/test_*.py; do [ -f "$t" ] && run "$(basename "$t")" python3 "$t"; done
[ -n "$failures" ] && printf 'failed:%s\n' "$failures"
printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ $failed -eq 0 ]
