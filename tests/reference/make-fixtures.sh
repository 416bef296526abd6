#!/bin/sh
# make reference: regenerate the PyTorch reference fixtures (tests/fixtures/bert) with torch, then
# compare the engine against them live. Needs python3-torch (TORCH_PYTHON, default /usr/bin/python3).
set -eu
: "${TORCH_PYTHON:=/usr/bin/python3}"
: "${PTUNE_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
if ! "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
    echo "make reference: $TORCH_PYTHON cannot import torch (install python3-torch)" >&2
    exit 1
fi
out="$PTUNE_SRC/tests/fixtures/bert"
"$TORCH_PYTHON" "$PTUNE_SRC/tests/reference/make_fixtures.py" "$out"
python3 "$PTUNE_SRC/tests/integration/test_debug_mlm.py" "$out"
# The prompt encoders' reference (compared by tests/test-prompt.c in make test).
"$TORCH_PYTHON" "$PTUNE_SRC/tests/reference/prompt_encoders.py" > "$PTUNE_SRC/tests/fixtures/prompt_encoders.json"
# The fixtures are committed: a regeneration that changes them should be looked at, not slipped in.
if command -v git >/dev/null && git -C "$PTUNE_SRC" rev-parse >/dev/null 2>&1; then
    git -C "$PTUNE_SRC" status --short -- tests/fixtures/bert tests/fixtures/prompt_encoders.json
fi
