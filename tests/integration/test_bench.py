"""`ptune bench` on a small fixture model: one JSON line with consistent numbers, and clear usage errors.
Standard library only."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("PTUNE_BIN")
MODEL = os.path.join(os.environ.get("PTUNE_SRC", "."), "tests/fixtures/bert/l3-h48-tied")
failures = []


def run(*args):
    p = subprocess.run([BIN, "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check_run(train):
    args = ["--model", MODEL, "--batch", "3", "--seq", "20", "--iters", "3", "--threads", "1"]
    rc, out, err = run(*args, *(["--train"] if train else []))
    if rc != 0 or len(out.splitlines()) != 1:
        failures.append(f"train={train}: exit {rc}, stdout {out!r}, stderr {err!r}")
        return
    r = json.loads(out)
    want_keys = {"batch", "seq", "train", "threads", "ms_per_batch", "seq_per_s", "gflops", "peak_rss_mb",
                 "weights_mb"}
    if set(r) != want_keys:
        failures.append(f"keys {sorted(r)}, expected {sorted(want_keys)}")
        return
    if (r["batch"], r["seq"], r["train"], r["threads"]) != (3, 20, train, 1):
        failures.append(f"echoed settings wrong: {r}")
    if not (r["ms_per_batch"] > 0 and r["gflops"] > 0):
        failures.append(f"non-positive timing: {r}")
    elif not r["peak_rss_mb"] >= r["weights_mb"]:
        # the fingerprint reads every byte of the mapped file, so all of it was resident once
        failures.append(f"peak RSS {r['peak_rss_mb']} MB is below the {r['weights_mb']} MB of weights it read")
    elif abs(r["weights_mb"] * 1048576 - os.path.getsize(os.path.join(MODEL, "model.safetensors"))) > 1e5:
        failures.append(f"weights_mb {r['weights_mb']} is not the size of model.safetensors")
    elif abs(r["seq_per_s"] - 3000 / r["ms_per_batch"]) > 1e-4 * r["seq_per_s"]:
        failures.append(f"seq_per_s {r['seq_per_s']} does not match 3 rows in {r['ms_per_batch']} ms")


if __name__ == "__main__":
    if not BIN or not os.access(BIN, os.X_OK):
        print("skip: PTUNE_BIN is not set to an executable ptune")
        sys.exit(77)
    check_run(False)
    check_run(True)
    rc, out, err = run("--sgemm", "--iters", "2", "--threads", "1")
    if rc != 0 or json.loads(out).get("gflops", 0) <= 0:
        failures.append(f"--sgemm: exit {rc}, {out!r} {err!r}")
    for args, needle in ((["--model", MODEL, "--seq", "41"], "positions"), (["--batch", "0", "--model", MODEL], "--batch"),
                         (["--iters"], "unexpected"), ([], "--model")):
        rc, out, err = run(*args)
        if rc != 2 or needle not in err:
            failures.append(f"bench {args}: exit {rc}, stderr {err.strip()!r}, expected exit 2 naming {needle!r}")
    for f in failures:
        print("FAIL:", f)
    print("bench: %d problems" % len(failures))
    sys.exit(1 if failures else 0)
