#!/bin/sh
# bin/ptune tokenize against the Python reference (tests/reference/bert_tokenizer_ref.py): the
# --model / --vocab / --do-lower-case / --jsonl contract, plain lines from the shared data sets, and
# the errors (message on stderr, exit 1; usage errors exit 2).
set -u
: "${PTUNE_BIN:?}" "${PTUNE_SRC:?}" "${PTUNE_TMP:?}"
command -v python3 >/dev/null || { echo "skipped: python3 not found, the reference cannot run"; exit 77; }
REF="python3 $PTUNE_SRC/tests/reference/bert_tokenizer_ref.py"
FIX="$PTUNE_SRC/tests/fixtures/tokenizer"
T="$PTUNE_TMP/test-tokenize.$$"
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
fails=0
check() { # name, then a command that must succeed
    name=$1; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
same() { cmp -s "$1" "$2" || { echo "  $1 and $2 differ:"; diff "$1" "$2" | head -5; return 1; }; }

# --model reads do_lower_case from tokenizer_config.json (false in the fixture); the flag overrides.
$REF --vocab "$FIX/vocab.txt" --no-lower-case --jsonl < "$FIX/tricky.jsonl" > "$T/ref-cased"
$REF --vocab "$FIX/vocab.txt" --jsonl < "$FIX/tricky.jsonl" > "$T/ref-lower"
"$PTUNE_BIN" tokenize --model "$FIX" --jsonl < "$FIX/tricky.jsonl" > "$T/out-model"
check "--model uses do_lower_case=false from tokenizer_config.json" same "$T/out-model" "$T/ref-cased"
"$PTUNE_BIN" tokenize --model "$FIX" --do-lower-case true --jsonl < "$FIX/tricky.jsonl" > "$T/out-flag"
check "--do-lower-case true overrides the config" same "$T/out-flag" "$T/ref-lower"
"$PTUNE_BIN" tokenize --vocab "$FIX/vocab.txt" --jsonl < "$FIX/tricky.jsonl" > "$T/out-vocab"
check "--vocab defaults to lower-casing" same "$T/out-vocab" "$T/ref-lower"
check "the lower-cased and cased ids differ somewhere" sh -c "! cmp -s '$T/ref-lower' '$T/ref-cased'"

# A model directory with neither tokenizer_config.json nor weights: lower-casing, and it works.
mkdir -p "$T/model" && cp "$FIX/vocab.txt" "$T/model/"
"$PTUNE_BIN" tokenize --model "$T/model" --jsonl < "$FIX/tricky.jsonl" > "$T/out-noconf"
check "no tokenizer_config.json and no weights: lower-casing" same "$T/out-noconf" "$T/ref-lower"

# Plain lines: empty lines give empty lines, a last line without newline counts.
printf 'Hello, world!\n\n\tUNAFFABLE\nhello' | "$PTUNE_BIN" tokenize --vocab "$FIX/vocab.txt" > "$T/plain"
printf '141 16 78 5\n\n74 73 72\n141\n' > "$T/plain-want"
check "plain lines, empty line, no final newline" same "$T/plain" "$T/plain-want"

# Every shared data file, fed as it is, with the real vocabulary, both casings.
V="${PTUNE_SHARED:-}/vocab/bert-base-chinese-vocab.txt"
if [ -n "${PTUNE_SHARED:-}" ] && [ -r "$V" ]; then
    n=0
    for f in "$PTUNE_SHARED"/data/*/*; do
        for lc in true false; do
            flag=; [ $lc = false ] && flag=--no-lower-case
            $REF --vocab "$V" $flag < "$f" > "$T/ref-data"
            "$PTUNE_BIN" tokenize --vocab "$V" --do-lower-case $lc < "$f" > "$T/out-data"
            check "$(basename "$(dirname "$f")")/$(basename "$f") lower=$lc ($(wc -l < "$T/ref-data") lines)" \
                same "$T/out-data" "$T/ref-data"
            n=$((n + 1))
        done
    done
    check "compared all shared data files ($n runs)" test "$n" -ge 14
else
    echo "skipped part: the shared data and vocabulary are not there (PTUNE_SHARED=${PTUNE_SHARED:-unset})"
fi

# Errors.
expect_fail() { # name, expected exit code, expected stderr text, stdin text, args...
    name=$1 code=$2 text=$3 input=$4; shift 4
    printf "$input" | "$PTUNE_BIN" tokenize "$@" > "$T/err-out" 2> "$T/err-msg"
    rc=$?
    if [ $rc -eq "$code" ] && grep -qF -- "$text" "$T/err-msg"; then echo "ok   $name"
    else echo "FAIL $name: exit $rc, stderr: $(cat "$T/err-msg")"; fails=$((fails + 1)); fi
}
expect_fail "invalid UTF-8 names line and byte" 1 "line 2: invalid UTF-8 at byte 3: overlong encoding" \
    'hello\nabc\300\257\n' --vocab "$FIX/vocab.txt"
check "lines before the bad one were answered" same "$T/err-out" /dev/stdin <<OUT
141
OUT
expect_fail "truncated UTF-8 at the end" 1 "line 1: invalid UTF-8 at byte 2: truncated sequence" \
    'ab\344\270' --vocab "$FIX/vocab.txt"
expect_fail "missing vocabulary" 1 "$T/none/vocab.txt: cannot open" '' --model "$T/none"
printf '{"do_lower_case": "yes"}' > "$T/model/tokenizer_config.json"
expect_fail "do_lower_case of the wrong type" 1 "do_lower_case must be true or false, found a string" '' \
    --model "$T/model"
printf '{"do_lower_case": tru' > "$T/model/tokenizer_config.json"
expect_fail "invalid tokenizer_config.json" 1 "tokenizer_config.json: line 1 column" '' --model "$T/model"
expect_fail "JSON line that is not a string" 1 "line 2: expected a JSON string" '"a"\n[1]\n' --vocab "$FIX/vocab.txt" --jsonl
expect_fail "invalid JSON line" 1 "line 1: invalid JSON" '"abc\n' --vocab "$FIX/vocab.txt" --jsonl
expect_fail "no vocabulary option" 2 "give exactly one of --model DIR and --vocab FILE" ''
expect_fail "bad --do-lower-case" 2 "--do-lower-case must be true or false, not 'yes'" '' --vocab x --do-lower-case yes
expect_fail "unknown option" 2 "unknown option '--lower'" '' --vocab x --lower

# --jsonl carries NUL and any character.
printf '"hel\\u0000lo"\n"\\u00c9T\\u00c9"\n' | "$PTUNE_BIN" tokenize --vocab "$FIX/vocab.txt" --jsonl > "$T/nul"
printf '[141]\n[58,69,65]\n' > "$T/nul-want"
check "--jsonl passes NUL and escapes" same "$T/nul" "$T/nul-want"

echo "$fails failed"
[ $fails -eq 0 ]
