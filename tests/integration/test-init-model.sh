#!/bin/sh
# `ptune init-model` and `ptune info` as a user runs them: usage errors, the --cjk-vocab layout,
# determinism, and info's JSON (fingerprint = sha256sum of the weights file).
set -u
: "${PTUNE_BIN:?}" "${PTUNE_TMP:?}"
dir="$PTUNE_TMP/it-init-model"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
fails=0
check() { # check DESCRIPTION COMMAND...: the command must succeed
    desc=$1; shift
    if "$@"; then :; else echo "FAIL: $desc"; fails=$((fails + 1)); fi
}
exit_code() { "$@" >/dev/null 2>"$dir/stderr"; echo $?; }
small="--layers 1 --hidden 8 --heads 2 --intermediate 16 --max-pos 16"

# usage errors exit 2 and say what is wrong
check "missing --seed" [ "$(exit_code "$PTUNE_BIN" init-model --out "$dir/m" $small --cjk-vocab)" = 2 ]
check "missing --seed named" grep -q -- "--seed is required" "$dir/stderr"
check "both vocab options" [ "$(exit_code "$PTUNE_BIN" init-model --out "$dir/m" $small --cjk-vocab --vocab x --seed 1)" = 2 ]
check "bad dtype" [ "$(exit_code "$PTUNE_BIN" init-model --out "$dir/m" $small --cjk-vocab --seed 1 --dtype f64)" = 2 ]
check "bad dtype named" grep -q -- "--dtype must be f32, f16 or bf16, not 'f64'" "$dir/stderr"
check "heads must divide hidden" [ "$(exit_code "$PTUNE_BIN" init-model --out "$dir/m" --layers 1 --hidden 9 --heads 2 --intermediate 4 --cjk-vocab --seed 1)" = 2 ]
check "missing vocab file" [ "$(exit_code "$PTUNE_BIN" init-model --out "$dir/m" $small --vocab "$dir/nope.txt" --seed 1)" = 1 ]
check "missing vocab file named" grep -q "nope.txt" "$dir/stderr"
check "info needs --model" [ "$(exit_code "$PTUNE_BIN" info)" = 2 ]

# --cjk-vocab: bert-base-chinese's ids for the specials, the ideographs in order, ## pieces at the end
check "init-model runs" "$PTUNE_BIN" init-model --out "$dir/a" $small --cjk-vocab --seed 5 >"$dir/summary.json"
v="$dir/a/vocab.txt"
check "[PAD]=0" [ "$(sed -n 1p "$v")" = "[PAD]" ]
check "[unused1]=1" [ "$(sed -n 2p "$v")" = "[unused1]" ]
check "[unused99]=99" [ "$(sed -n 100p "$v")" = "[unused99]" ]
check "[UNK]=100" [ "$(sed -n 101p "$v")" = "[UNK]" ]
check "[CLS]=101" [ "$(sed -n 102p "$v")" = "[CLS]" ]
check "[SEP]=102" [ "$(sed -n 103p "$v")" = "[SEP]" ]
check "[MASK]=103" [ "$(sed -n 104p "$v")" = "[MASK]" ]
check "ideographs U+4E00..U+9FA5 in order" python3 -c "
import sys
lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')
start = lines.index(chr(0x4e00))
sys.exit(lines[start:start + 20902] != [chr(c) for c in range(0x4e00, 0x9fa6)])" "$v"
check "no duplicate tokens" [ "$(sort "$v" | uniq -d | wc -l)" = 0 ]
check "## pieces" grep -qx '##z' "$v"
check "full-width comma" grep -qx '，' "$v"

check "same seed, same bytes" "$PTUNE_BIN" init-model --out "$dir/b" $small --cjk-vocab --seed 5 >/dev/null
check "other seed" "$PTUNE_BIN" init-model --out "$dir/c" $small --cjk-vocab --seed 6 >/dev/null
check "deterministic" cmp -s "$dir/a/model.safetensors" "$dir/b/model.safetensors"
check "seed matters" [ -n "$(cmp "$dir/a/model.safetensors" "$dir/c/model.safetensors")" ]

check "info runs" "$PTUNE_BIN" info --model "$dir/a" >"$dir/info.json"
sum=$(sha256sum "$dir/a/model.safetensors" | cut -d' ' -f1)
size=$(wc -c <"$dir/a/model.safetensors")
check "info JSON" python3 - "$dir/info.json" "$dir/summary.json" "$sum" "$size" <<'PY'
import json, sys
info = json.load(open(sys.argv[1])); summary = json.load(open(sys.argv[2]))
c = info["config"]
V, H, I, P, L = 21137, 8, 16, 16, 1
layer = 4 * (H * H + H) + 2 * H * I + I + H + 4 * H
want = V * H + P * H + 2 * H + 2 * H + L * layer + H * H + 3 * H + V
checks = [
    (info["fingerprint"], sys.argv[3]), (info["weights_bytes"], int(sys.argv[4])), (info["name"], "a"),
    (info["dtype"], "F32"), (info["tied"], True), (info["vocab_size"], V), (c["vocab_size"], V),
    (c["hidden_size"], H), (c["num_hidden_layers"], L), (c["num_attention_heads"], 2), (c["intermediate_size"], I),
    (c["max_position_embeddings"], P), (c["type_vocab_size"], 2), (c["layer_norm_eps"], 1e-12),
    (c["hidden_act"], "gelu"), (info["parameters"], want), (summary["parameters"], want), (info["do_lower_case"], True),
]
bad = [(got, exp) for got, exp in checks if got != exp]
for got, exp in bad:
    print("info: got %r, expected %r" % (got, exp))
sys.exit(1 if bad else 0)
PY

# a broken model directory: exit 1 and a one-line message naming the problem
check "bf16 model" "$PTUNE_BIN" init-model --out "$dir/d" $small --cjk-vocab --seed 5 --dtype bf16 >/dev/null
check "info on bf16" sh -c "'$PTUNE_BIN' info --model '$dir/d' | grep -q '\"dtype\": \"BF16\"'"
head -c $((size - 100)) "$dir/a/model.safetensors" >"$dir/d/model.safetensors"
check "info on truncated file fails" [ "$(exit_code "$PTUNE_BIN" info --model "$dir/d")" = 1 ]
check "one line" [ "$(wc -l <"$dir/stderr")" = 1 ]
check "names the file" grep -q "d/model.safetensors: tensor 'cls.predictions.bias': data_offsets .* out of range" "$dir/stderr"

rm -rf "$dir"
[ $fails -eq 0 ] && echo "test-init-model: all checks passed"
[ $fails -eq 0 ]
