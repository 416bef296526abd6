#!/bin/sh
# make bench: ptune against PyTorch eager on the same bert-base-sized weights, in one run.
#
# Generates the model once (BENCH_MODEL, default $PTUNE_TMP/bench-bert-base: 12 layers, hidden 768,
# 12 heads, intermediate 3072, the CJK vocabulary), measures the machine's sgemm rate, then runs the
# grid of the performance issue, each row ptune then torch, and prints the ratio. Without torch
# (TORCH_PYTHON cannot import it) only ptune's numbers are printed. BENCH_ITERS sets the iterations.
# The end-to-end daemon figure (eprstmt through POST /classify) is not part of this script.
set -eu
: "${PTUNE_BIN:?run through make bench}"
: "${TORCH_PYTHON:=/usr/bin/python3}"
: "${PTUNE_TMP:=/tmp}"
model=${BENCH_MODEL:-$PTUNE_TMP/bench-bert-base}
iters=${BENCH_ITERS:-5}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -f "$model/model.safetensors" ]; then
    "$PTUNE_BIN" init-model --out "$model" --layers 12 --hidden 768 --heads 12 --intermediate 3072 \
        --cjk-vocab --seed 1 >/dev/null
fi
torch=yes
"$TORCH_PYTHON" -c 'import torch' 2>/dev/null || torch=no
[ "$torch" = yes ] || echo "# $TORCH_PYTHON has no torch: ptune numbers only"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto)}"
"$PTUNE_BIN" bench --sgemm --iters 20

for row in "1 128" "8 128" "1 32" "32 64" "8 128 --train"; do
    set -- $row
    ours=$("$PTUNE_BIN" bench --model "$model" --batch "$1" --seq "$2" --iters "$iters" ${3:-})
    echo "$ours"
    if [ "$torch" = yes ]; then
        theirs=$("$TORCH_PYTHON" "$here/torch_bert.py" --model "$model" --batch "$1" --seq "$2" --iters "$iters" ${3:-})
        echo "$theirs"
        python3 -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"batch": a["batch"], "seq": a["seq"], "train": a["train"],
                  "speedup_vs_torch": round(b["ms_per_batch"] / a["ms_per_batch"], 3)}))' "$ours" "$theirs"
    fi
done
