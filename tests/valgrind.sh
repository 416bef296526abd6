#!/bin/sh
# Runs every test program given as an argument under valgrind (memcheck, full leak check): any invalid
# access, use of uninitialised memory or leak fails it. Exit 77 (skipped) is passed through as a skip.
# Prints each program's time and one summary line; valgrind's own report is kept in $PTUNE_TMP/valgrind.
out="${PTUNE_TMP:-/tmp}/valgrind"
mkdir -p "$out"
passed=0; failed=0; skipped=0; failures=""
for t in "$@"; do
    name=$(basename "$t")
    start=$(date +%s)
    OPENBLAS_NUM_THREADS=1 valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --track-origins=yes --log-file="$out/$name.log" \
        "$t" > "$out/$name.out" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); printf '%-28s ok      %4ds\n' "$name" "$secs"
    elif [ $rc -eq 77 ]; then skipped=$((skipped + 1)); printf '%-28s skipped %4ds\n' "$name" "$secs"
    else
        failed=$((failed + 1)); failures="$failures $name"
        printf '%-28s FAILED  %4ds (exit %d)\n' "$name" "$secs" "$rc"
        tail -n 30 "$out/$name.out"; head -n 60 "$out/$name.log"
    fi
done
[ -n "$failures" ] && printf 'failed:%s\n' "$failures"
printf 'valgrind: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ $failed -eq 0 ]
