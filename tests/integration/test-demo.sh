#!/bin/sh
# `make demo` keeps working: deploy/demo/demo.sh walks the curl flow against a real daemon on a generated
# backbone and an ephemeral port, and every step answers as documented.
[ -x "${PTUNED_BIN:-}" ] || { echo "skip: PTUNED_BIN is not built"; exit 77; }
[ -x "${PTUNE_BIN:-}" ] || { echo "skip: PTUNE_BIN is not built"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
dir=$PTUNE_TMP/demo-test
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$PTUNE_BIN" init-model --out "$dir/model" --cjk-vocab --layers 2 --hidden 64 --heads 2 --intermediate 128 \
    --seed 3 >/dev/null || { echo "FAIL: ptune init-model"; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PTUNED_MODEL=$dir/model DEMO_DIR=$dir/run DEMO_LISTEN=127.0.0.1:$port sh "$PTUNE_SRC/deploy/demo/demo.sh" > "$dir/out.txt" 2>&1
rc=$?
fail=0
check() {
    if grep -q -- "$1" "$dir/out.txt"; then :; else echo "FAIL: the demo's output lacks $1"; fail=1; fi
}
[ $rc -eq 0 ] || { echo "FAIL: demo.sh exited $rc"; fail=1; }
check '"pretrained": *false'
check '"rows": *24'
check '"status": *"succeeded"'
check '"results": *\[{"label": *"[正负]面"'
check '^200 [1-9][0-9]* bytes$'
check '^demo: done'
[ $fail -eq 0 ] || { cat "$dir/out.txt"; exit 1; }
echo "test-demo: ok"
