"""Every limit of the daemon, enforced and not assumed: each is tried at its value (accepted) and one past
it (refused with a clear error, never a 5xx, nothing stored): request body, TSV rows and row length,
labels per task, texts per classify call and their length, prompt tokens, epochs, workers. The values
come from GET /info's "limits", so that the test follows the daemon rather than restating it."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import Daemon, check, env_or_skip, make_model, scratch, synthetic_rows, tsv  # noqa: E402

TSV = {"Content-Type": "text/tab-separated-values"}
MAX_BODY = 8 << 20


def expect(r, want, code=None, **details):
    check(r.status == want, "expected %d %s, got %r" % (want, code or "", r))
    if code:
        err = r.json()["error"]
        check(err["code"] == code, "expected code %s, got %r" % (code, err))
        for k, v in details.items():
            check(err.get(k) == v, "expected %s=%r in %r" % (k, v, err))
    return r


def n_datasets(d):
    return len(d.request("GET", "/datasets").json()["datasets"])


def past_body_limit(d, n):
    """One byte over: refused from the headers, as curl sends them (Expect: 100-continue), before any of
    the body is sent; a client that sends the body anyway may see the connection closed under it."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=30) as s:
        s.sendall(b"POST /datasets?name=past-max-body HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: text/tab-separated-values\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % n)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 413"), reply[:300])
    err = json.loads(body)["error"]
    check(err["code"] == "body_too_large" and err["max_body"] == n - 1, err)


def body_and_rows(d, lim):
    before = n_datasets(d)
    # The body: at the limit it is read (and parsed: 64-byte rows), one byte more is 413 before parsing.
    row = b"a\t" + b"x" * 61 + b"\n"
    body = row * (lim["max_body"] // len(row) - 1)
    body += b"b\t" + b"y" * (lim["max_body"] - len(body) - 3) + b"\n"
    check(len(body) == lim["max_body"], len(body))
    r = expect(d.request("POST", "/datasets?name=at-max-body", body, TSV), 201)
    check(r.json()["rows"] == lim["max_body"] // len(row), r)
    past_body_limit(d, lim["max_body"] + 1)
    # Rows: one more than the limit, in 4-byte rows (the body limit is not what stops it).
    rows = b"a\tb\n" * (lim["max_rows"] + 1)
    r = expect(d.request("POST", "/datasets?name=past-max-rows", rows, TSV), 400, "invalid_tsv",
               line=lim["max_rows"] + 1)
    check("limit of %d rows" % lim["max_rows"] in r.json()["error"]["message"], r)
    # Row length: at the limit accepted, one byte more refused with its line.
    at = b"a\tb\n" + b"c\t" + b"z" * (lim["max_row_bytes"] - 2) + b"\r\n"
    expect(d.request("POST", "/datasets?name=at-max-row", at, TSV), 201)
    past = b"a\tb\n" + b"c\t" + b"z" * (lim["max_row_bytes"] - 1) + b"\r\n"
    r = expect(d.request("POST", "/datasets?name=past-max-row", past, TSV), 400, "invalid_tsv", line=2)
    check("limit of %d bytes per row" % lim["max_row_bytes"] in r.json()["error"]["message"], r)
    check(n_datasets(d) == before + 2, "a refused upload stored something")


def task_limits(d, ds, lim):
    base = {"name": "limits", "train_dataset": ds}
    # Labels per task, in the verbalizer and as training labels.
    words = {"l%d" % i: ["好"] for i in range(lim["max_labels"] + 1)}
    words.update({"正": ["好"], "负": ["差"]})
    r = expect(d.json("POST", "/tasks", dict(base, verbalizer=words)), 422, "invalid_config", field="verbalizer")
    check("limit of %d labels" % lim["max_labels"] in r.json()["error"]["message"], r)
    many = [("l%d" % i, "好的") for i in range(lim["max_labels"] + 1)]
    r = expect(d.json("POST", "/tasks", {"name": "many-labels", "train_tsv": tsv(many)}), 422, "invalid_config")
    check("limit of %d labels" % lim["max_labels"] in r.json()["error"]["message"], r)
    # Prompt tokens: one group over, and several groups over in all.
    n = lim["max_prompt_tokens"]
    expect(d.json("POST", "/tasks", dict(base, template="{mask}{prompt:%d}{text}" % (n + 1))), 422, "invalid_config",
           field="template")
    r = expect(d.json("POST", "/tasks", dict(base, template="{mask}{prompt:%d}{text}{prompt:2}" % (n - 1), max_seq_len=128)),
               422, "invalid_config", field="template")
    check("limit of %d prompt tokens" % n in r.json()["error"]["message"], r)
    # Epochs: 10000 is queued (and cancelled at once), 10001 refused.
    expect(d.json("POST", "/tasks", dict(base, epochs=10001)), 422, "invalid_config", field="epochs")
    t = expect(d.json("POST", "/tasks", dict(base, name="many-epochs", epochs=10000)), 202).json()
    check(t["config"]["epochs"] == 10000, t)
    r = d.request("POST", "/tasks/%d/cancel" % t["id"], b"")
    check(r.status in (200, 202), r)
    check(d.wait_task(t["id"])["status"] == "cancelled", "the 10000-epoch task was not cancelled")


def classify_limits(d, task, lim):
    k = lim["max_client_batch"]
    r = expect(d.json("POST", "/classify", {"task": task, "texts": ["很好"] * k}), 200)
    check(len(r.json()["results"]) == k, r)
    expect(d.json("POST", "/classify", {"task": task, "texts": ["很好"] * (k + 1)}), 422, "too_many_texts", max=k)
    n = lim["max_text_bytes"]
    at = "好" * (n // 3) + "a" * (n % 3)
    check(len(at.encode()) == n, "text length")
    expect(d.json("POST", "/classify", {"task": task, "text": at}), 200)
    expect(d.json("POST", "/classify", {"task": task, "text": at + "a"}), 422, "text_too_long", field="text", max=n)
    expect(d.json("POST", "/classify", {"task": task, "texts": ["ok", at + "a"]}), 422, "text_too_long",
           field="texts[1]", max=n)


def workers_limit(model, work):
    """64 workers start; 65 is refused at start with one line and exit 2."""
    p = subprocess.run([os.environ["PTUNED_BIN"], "--model", model, "--listen", "127.0.0.1:0", "--workers", "65",
                        "--db", os.path.join(work, "w.db")], capture_output=True, text=True, timeout=30)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and "--workers" in lines[0] and "1..64" in lines[0], p)
    d = Daemon(model, os.path.join(work, "w64.db"), ["--workers", "64"], log_name="w64.log").start()
    try:
        check(d.request("GET", "/info").json()["limits"]["workers"] == 64, "64 workers")
    finally:
        check(d.stop() == 0, "ptuned with 64 workers did not stop cleanly")


def main():
    env_or_skip()
    work = scratch("limits")
    model = make_model(os.path.join(work, "model"))
    workers_limit(model, work)
    d = Daemon(model, os.path.join(work, "ptuned.db"), ["--max-body", str(MAX_BODY)]).start()
    try:
        lim = d.request("GET", "/info").json()["limits"]
        check(lim["max_body"] == MAX_BODY, lim)
        body_and_rows(d, lim)
        ds = d.upload(synthetic_rows(24, seed=3), name="synthetic")
        task_limits(d, ds, lim)
        ready = expect(d.json("POST", "/tasks", {"name": "ready", "train_dataset": ds, "epochs": 1}), 202).json()
        check(d.wait_task(ready["id"])["status"] == "succeeded", "training failed")
        classify_limits(d, ready["id"], lim)
        check(d.stop() == 0, "ptuned did not stop cleanly")
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()
    print("limits: every limit refused one past its value, accepted at it")


if __name__ == "__main__":
    main()
