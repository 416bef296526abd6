"""`ptune debug mlm` against the PyTorch reference fixtures, and its errors on malformed requests.

Every tests/fixtures/bert/<model>/cases/<case>.request.json goes through the CLI; logits, loss and
prompt_grad must agree with <case>.expected.json (float64 PyTorch) within
1e-4 * max(1, max |reference|). Standard library only.
usage: python3 test_debug_mlm.py [FIXTURE_DIR]   (default: $PTUNE_SRC/tests/fixtures/bert)
"""
import glob
import json
import os
import subprocess
import sys

BIN = os.environ.get("PTUNE_BIN")
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("PTUNE_SRC", "."), "tests/fixtures/bert")
failures = []


def flat(x):
    if isinstance(x, list):
        for y in x:
            yield from flat(y)
    else:
        yield x


def shape(x):
    return [len(x)] + shape(x[0]) if isinstance(x, list) and x else ([0] if isinstance(x, list) else [])


def nested_shape(x):
    """Shape of a ragged nested list, as nested lengths (rows may differ)."""
    return [nested_shape(y) for y in x] if isinstance(x, list) else None


def run(model, request_text):
    p = subprocess.run([BIN, "debug", "mlm", "--model", model], input=request_text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def compare(case, key, got, want):
    if nested_shape(got) != nested_shape(want):
        failures.append(f"{case}: {key} has shape {shape(got)}..., reference {shape(want)}...")
        return 0.0
    g, w = list(flat(got)), list(flat(want))
    bound = 1e-4 * max([1.0] + [abs(v) for v in w])
    err = max([abs(a - b) for a, b in zip(g, w)] + [0.0])
    if err > bound:
        failures.append(f"{case}: {key} differs from the reference by {err:.3g} (bound {bound:.3g})")
    return err / bound if bound else 0.0


def check_fixtures():
    cases = sorted(glob.glob(os.path.join(FIXTURES, "*", "cases", "*.request.json")))
    if not cases:
        failures.append(f"no fixtures under {FIXTURES}")
    worst = {}
    for req_path in cases:
        model = os.path.dirname(os.path.dirname(req_path))
        case = os.path.relpath(req_path, FIXTURES)[:-len(".request.json")]
        with open(req_path) as f:
            req_text = f.read()
        with open(req_path.replace(".request.json", ".expected.json")) as f:
            want = json.load(f)
        rc, out, err = run(model, req_text)
        if rc != 0:
            failures.append(f"{case}: exit {rc}: {err.strip()}")
            continue
        got = json.loads(out)
        if set(got) != set(want):
            failures.append(f"{case}: response keys {sorted(got)}, expected {sorted(want)}")
            continue
        for key in want:
            got_v, want_v = (got[key], want[key]) if key != "loss" else ([got[key]], [want[key]])
            worst[key] = max(worst.get(key, 0.0), compare(case, key, got_v, want_v))
    print(f"{len(cases)} fixture cases; worst error / bound: " +
          ", ".join(f"{k} {v:.3f}" for k, v in sorted(worst.items())))


def check_errors():
    model = sorted(glob.glob(os.path.join(FIXTURES, "*", "config.json")))[0].rsplit("/", 1)[0]
    with open(os.path.join(model, "config.json")) as f:
        cfg = json.load(f)
    V, H, P = cfg["vocab_size"], cfg["hidden_size"], cfg["max_position_embeddings"]
    ok = {"input_ids": [[1, 2, 3, 4]], "mask_positions": [[1]]}
    bad = [
        ("not json", "{", "invalid JSON"),
        ("not an object", "[1]", "JSON object"),
        ("unknown key", dict(ok, extra=1), "extra"),
        ("missing masks", {"input_ids": [[1, 2]]}, "mask_positions"),
        ("no rows", {"input_ids": [], "mask_positions": []}, "input_ids"),
        ("id not int", {"input_ids": [[1, "a"]], "mask_positions": [[0]]}, "input_ids[0][1]"),
        ("id out of vocab", {"input_ids": [[1, V]], "mask_positions": [[0]]}, "vocabulary"),
        ("negative id", {"input_ids": [[1, -1]], "mask_positions": [[0]]}, "vocabulary"),
        ("too long", {"input_ids": [[1] * (P + 1)], "mask_positions": [[0]]}, "positions"),
        ("mask row count", {"input_ids": [[1, 2]], "mask_positions": [[0], [1]]}, "mask_positions"),
        ("mask outside", {"input_ids": [[1, 2]], "mask_positions": [[2]]}, "mask_positions"),
        ("mask twice", {"input_ids": [[1, 2, 3]], "mask_positions": [[1, 1]]}, "twice"),
        ("type out of range", dict(ok, token_type_ids=[[0, 2, 0, 0]]), "token type"),
        ("type length", dict(ok, token_type_ids=[[0, 1]]), "token_type_ids[0]"),
        ("targets length", dict(ok, targets=[[1, 2]]), "targets[0]"),
        ("target out of vocab", dict(ok, targets=[[V]]), "targets"),
        ("prompt not object", dict(ok, prompt=[1]), "prompt"),
        ("prompt vectors missing", dict(ok, prompt={"positions": [[0]]}), "prompt.vectors"),
        ("prompt vector size", dict(ok, prompt={"positions": [[0]], "vectors": [[[0.5] * (H - 1)]]}),
         "prompt.vectors[0][0]"),
        ("prompt vector count", dict(ok, prompt={"positions": [[0, 2]], "vectors": [[[0.5] * H]]}),
         "prompt.vectors[0]"),
        ("prompt position outside", dict(ok, prompt={"positions": [[4]], "vectors": [[[0.5] * H]]}),
         "prompt.positions"),
        ("prompt not a number", dict(ok, prompt={"positions": [[0]], "vectors": [[["x"] * H]]}), "expected a number"),
    ]
    for name, req, needle in bad:
        text = req if isinstance(req, str) else json.dumps(req)
        rc, out, err = run(model, text)
        lines = err.strip().splitlines()
        if rc != 1 or out or len(lines) != 1 or needle not in lines[0]:
            failures.append(f"bad request '{name}': exit {rc}, stdout {out[:60]!r}, stderr {err.strip()!r}; "
                            f"expected exit 1 and one line naming {needle!r}")
    rc, out, err = run(os.path.join(FIXTURES, "no-such-model"), json.dumps(ok))
    if rc != 1 or "no-such-model" not in err:
        failures.append(f"missing model dir: exit {rc}, stderr {err.strip()!r}")
    print(f"{len(bad)} malformed requests refused")


if __name__ == "__main__":
    if not BIN or not os.access(BIN, os.X_OK):
        print("skip: PTUNE_BIN is not set to an executable ptune")
        sys.exit(77)
    check_fixtures()
    check_errors()
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)
