"""Every error of the daemon's contract, against the real daemon: each TSV fault, malformed JSON, wrong
types, unknown keys, wrong content types, oversize bodies, missing/invalid/insufficient API keys,
404/405/409/413/415/422/429, bad start-up configuration (exit 2, one line). Each error is JSON with a
stable code and the fitting status, never a 500; a bad upload stores nothing; every response carries
X-Request-Id."""
import io
import json
import os
import subprocess
import sys
import tarfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import Daemon, check, env_or_skip, make_model, scratch, synthetic_rows, tsv  # noqa: E402

TSV = {"Content-Type": "text/tab-separated-values"}
seen = []


def expect(r, want, code=None, **details):
    seen.append(r)
    check(r.status == want, "expected %d %s, got %r" % (want, code or "", r))
    check(r.header("X-Request-Id"), "no X-Request-Id in %r" % r)
    if code:
        err = r.json()["error"]
        check(err["code"] == code, "expected code %s, got %r" % (code, err))
        check(err["message"], "empty message: %r" % err)
        for k, v in details.items():
            check(err.get(k) == v, "expected %s=%r in %r" % (k, v, err))
    return r


def dataset_count(d):
    return len(d.request("GET", "/datasets").json()["datasets"])


def tsv_faults(d):
    before = dataset_count(d)
    cases = [
        (b"pos\tgood\nneg no tab here\n", 2, None),
        (b"pos\tgood\n\tno label\n", 2, None),
        (b"pos\tgood\npos\t\n", 2, None),
        (b"pos\tgood\nneg\tbad \xff\xfe bytes\n", 2, 17),
        (b"pos\tgood\nneg\tnul \x00 byte\n", 2, None),
        (b"", None, None),
        (b"\n\r\n\n", None, None),
    ]
    for body, line, offset in cases:
        r = expect(d.request("POST", "/datasets?name=bad", body, TSV), 400, "invalid_tsv")
        if line:
            check(r.json()["error"]["line"] == line, (body, r))
        if offset is not None:
            check(r.json()["error"]["offset"] == offset, (body, r))
    check(dataset_count(d) == before, "a bad file stored something")
    # Accepted forms: BOM, CRLF, blank lines, missing final newline, tabs inside the text.
    r = expect(d.request("POST", "/datasets?name=ok", b"\xef\xbb\xbfpos\tgood\r\n\r\nneg\tbad\twith tab", TSV), 201)
    check(r.json()["rows"] == 2 and r.json()["labels"] == {"pos": 1, "neg": 1}, r)
    rows = d.request("GET", "/datasets/%d/rows" % r.json()["id"]).json()["rows"]
    check(rows[1] == {"line": 3, "label": "neg", "text": "bad\twith tab"}, rows)
    # multipart
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n")
    expect(d.request("POST", "/datasets", body, {"Content-Type": "multipart/form-data; boundary=XyZ"}), 400,
           "invalid_multipart", field="file")
    expect(d.request("POST", "/datasets", b"garbage", {"Content-Type": "multipart/form-data; boundary=XyZ"}), 400,
           "invalid_multipart")
    expect(d.request("POST", "/datasets", b"x", {"Content-Type": "multipart/form-data"}), 400, "invalid_multipart")
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.tsv\"\r\n\r\n"
            b"a\tb\nc no tab\n\r\n--XyZ--\r\n")
    expect(d.request("POST", "/datasets", body, {"Content-Type": "multipart/form-data; boundary=XyZ"}), 400,
           "invalid_tsv", line=2)
    expect(d.request("POST", "/datasets?name=" + "n" * 201, b"a\tb\n", TSV), 422, "invalid_value", field="name")
    check(dataset_count(d) == before + 1, "a bad file stored something")


def routing_and_types(d, ds):
    expect(d.request("GET", "/nope"), 404, "not_found")
    expect(d.request("GET", "/datasets/999"), 404, "not_found")
    expect(d.request("GET", "/datasets/abc"), 404, "not_found")
    expect(d.request("GET", "/tasks/999"), 404, "not_found")
    expect(d.request("DELETE", "/tasks/0"), 404, "not_found")
    r = expect(d.request("PUT", "/datasets"), 405, "method_not_allowed")
    check(r.header("Allow") == "POST, GET", r.headers)
    r = expect(d.request("PATCH", "/tasks/1"), 405, "method_not_allowed")
    check(r.header("Allow") == "GET, DELETE", r.headers)
    expect(d.request("POST", "/datasets", "a\tb\n", {"Content-Type": "application/json"}), 415,
           "unsupported_media_type")
    expect(d.request("POST", "/tasks", "{}", {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    expect(d.request("POST", "/classify", "{}"), 415, "unsupported_media_type")
    expect(d.request("POST", "/tasks/import", "{}", {"Content-Type": "application/json"}), 415,
           "unsupported_media_type")
    expect(d.request("POST", "/datasets", "x" * 65537, TSV), 413, "body_too_large", max_body=65536)
    expect(d.request("POST", "/tasks", '{"name": "x",', {"Content-Type": "application/json"}), 400, "malformed_json")
    expect(d.request("POST", "/tasks", "[]", {"Content-Type": "application/json"}), 400, "malformed_json")
    expect(d.request("POST", "/tasks", '{"name": "a", "name": "b"}', {"Content-Type": "application/json"}), 400,
           "malformed_json")
    expect(d.request("GET", "/datasets/%d/rows?limit=0" % ds), 422, "invalid_value", field="limit")
    expect(d.request("GET", "/datasets/%d/rows?offset=-1" % ds), 422, "invalid_value", field="offset")
    expect(d.request("GET", "/tasks?status=done"), 422, "invalid_value", field="status")


def task_errors(d, ds):
    base = {"name": "t", "train_dataset": ds}
    expect(d.json("POST", "/tasks", {"train_dataset": ds}), 422, "missing_field", field="name")
    expect(d.json("POST", "/tasks", {"name": 5, "train_dataset": ds}), 422, "wrong_type", field="name")
    expect(d.json("POST", "/tasks", {"name": "t"}), 422, "missing_field", field="train_dataset")
    expect(d.json("POST", "/tasks", dict(base, train_tsv="a\tb\n")), 422, "invalid_value", field="train_tsv")
    expect(d.json("POST", "/tasks", dict(base, train_dataset="1")), 422, "wrong_type", field="train_dataset")
    expect(d.json("POST", "/tasks", dict(base, train_dataset=999)), 422, "unknown_dataset", field="train_dataset")
    expect(d.json("POST", "/tasks", dict(base, dev_dataset=999)), 422, "unknown_dataset", field="dev_dataset")
    expect(d.json("POST", "/tasks", dict(base, epoch=3)), 422, "invalid_config", field="epoch")
    expect(d.json("POST", "/tasks", dict(base, epochs="3")), 422, "invalid_config", field="epochs")
    expect(d.json("POST", "/tasks", dict(base, epochs=0)), 422, "invalid_config", field="epochs")
    expect(d.json("POST", "/tasks", dict(base, encoder="gru")), 422, "invalid_config", field="encoder")
    expect(d.json("POST", "/tasks", dict(base, template="{prompt:4}{text}")), 422, "invalid_config")
    expect(d.json("POST", "/tasks", dict(base, max_seq_len=4096)), 422, "invalid_config", field="max_seq_len")
    expect(d.json("POST", "/tasks", dict(base, verbalizer={"正": ["好"]})), 422, "unknown_label", label="负")
    r = expect(d.json("POST", "/tasks", {"name": "t", "train_tsv": "正\t好的\n负\t差的\n中\t一般\n",
                                         "verbalizer": {"正": ["好"], "负": ["差"]}}), 422, "unknown_label")
    check(r.json()["error"]["line"] == 3, r)
    expect(d.json("POST", "/tasks", {"name": "t", "train_tsv": "正\t好的\n负 no tab\n"}), 400, "invalid_tsv",
           field="train_tsv", line=2)


def classify_errors(d, ready_id):
    expect(d.json("POST", "/classify", {"task": 999, "text": "x"}), 404, "not_found")
    expect(d.json("POST", "/classify", {"task": "no-such-name", "text": "x"}), 404, "not_found")
    expect(d.json("POST", "/classify", {"text": "x"}), 422, "missing_field", field="task")
    expect(d.json("POST", "/classify", {"task": [1], "text": "x"}), 422, "wrong_type", field="task")
    expect(d.json("POST", "/classify", {"task": ready_id}), 422, "missing_field", field="texts")
    expect(d.json("POST", "/classify", {"task": ready_id, "text": "x", "texts": ["y"]}), 422, "invalid_value")
    expect(d.json("POST", "/classify", {"task": ready_id, "text": 5}), 422, "wrong_type", field="text")
    expect(d.json("POST", "/classify", {"task": ready_id, "texts": "x"}), 422, "wrong_type", field="texts")
    expect(d.json("POST", "/classify", {"task": ready_id, "texts": ["a", 2]}), 422, "wrong_type", field="texts[1]")
    expect(d.json("POST", "/classify", {"task": ready_id, "texts": []}), 422, "invalid_value", field="texts")
    expect(d.json("POST", "/classify", {"task": ready_id, "texts": ["a"] * 5}), 422, "too_many_texts", max=4)
    expect(d.json("POST", "/classify", {"task": ready_id, "text": "x", "k": 1}), 422, "unknown_field", field="k")
    expect(d.json("POST", "/classify", {"task": ready_id, "text": "x", "top_k": 0}), 422, "invalid_value",
           field="top_k")
    r = expect(d.json("POST", "/classify", {"task": ready_id, "text": "好", "top_k": 1}), 200)
    check(len(r.json()["results"][0]["top"]) == 1, r)


def queue_full(d, ready_id):
    """--queue-limit 4 with requests of 4 texts: concurrent callers must meet a full queue."""
    statuses, lock = [], threading.Lock()

    def client():
        for _ in range(30):
            r = d.json("POST", "/classify", {"task": ready_id, "texts": ["好好好好好好好好好好" * 5] * 4})
            with lock:
                statuses.append((r.status, r.header("Retry-After"), r.body))

    threads = [threading.Thread(target=client) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    full = [s for s in statuses if s[0] == 429]
    check(all(s[0] in (200, 429) for s in statuses), set(s[0] for s in statuses))
    check(full, "no 429 among %d concurrent requests" % len(statuses))
    check(all(s[1] == "1" for s in full), "429 without Retry-After")
    check(json.loads(full[0][2])["error"]["code"] == "queue_full", full[0])
    print("queue full: %d of %d requests answered 429" % (len(full), len(statuses)))


def conflicts(d, ds):
    slow = {"name": "slow", "train_dataset": ds, "epochs": 10000}
    running = expect(d.json("POST", "/tasks", slow), 202).json()["id"]
    d.wait_task(running, until=("running",))
    queued = expect(d.json("POST", "/tasks", dict(slow, name="queued")), 202).json()["id"]
    expect(d.request("DELETE", "/datasets/%d" % ds), 409, "dataset_in_use")
    expect(d.request("DELETE", "/tasks/%d" % running), 409, "task_running")
    expect(d.json("POST", "/classify", {"task": queued, "text": "x"}), 409, "task_not_ready", status="queued")
    expect(d.json("POST", "/classify", {"task": "queued", "text": "x"}), 409, "task_not_ready")
    expect(d.request("GET", "/tasks/%d/adapter" % queued), 409, "task_not_ready")
    r = expect(d.request("POST", "/tasks/%d/cancel" % queued), 200)
    check(r.json()["status"] == "cancelled", r)
    expect(d.request("POST", "/tasks/%d/cancel" % queued), 409, "task_finished")
    r = expect(d.request("POST", "/tasks/%d/cancel" % running), 202)
    check(r.json()["cancel_requested"] is True, r)
    t = d.wait_task(running)
    check(t["status"] == "cancelled" and t["error"] == "cancelled by request", t)
    expect(d.request("DELETE", "/tasks/%d" % queued), 204)
    expect(d.request("GET", "/tasks/%d" % queued), 404, "not_found")


def deleted(d, ds):
    """A deleted task is gone for classification too (its compiled prompt leaves the cache); a name then
    means the newest remaining succeeded task of that name."""
    ids = []
    for _ in range(2):
        ids.append(expect(d.json("POST", "/tasks", {"name": "twice", "train_dataset": ds, "epochs": 1}), 202).json()["id"])
        check(d.wait_task(ids[-1])["status"] == "succeeded", "training failed")
    check(expect(d.json("POST", "/classify", {"task": "twice", "text": "好"}), 200).json()["task"] == ids[1], ids)
    expect(d.request("DELETE", "/tasks/%d" % ids[1]), 204)
    expect(d.json("POST", "/classify", {"task": ids[1], "text": "好"}), 404, "not_found")
    expect(d.request("GET", "/tasks/%d/adapter" % ids[1]), 404, "not_found")
    check(expect(d.json("POST", "/classify", {"task": "twice", "text": "好"}), 200).json()["task"] == ids[0], ids)


def import_errors(d, ready_id):
    expect(d.request("POST", "/tasks/import", b"not a tar" * 100, {"Content-Type": "application/x-tar"}), 400,
           "invalid_archive")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("ptune.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
    expect(d.request("POST", "/tasks/import", buf.getvalue(), {"Content-Type": "application/x-tar"}), 400,
           "invalid_archive", file="adapter_model.safetensors")
    # A valid export whose fingerprint names another backbone.
    exported = d.request("GET", "/tasks/%d/adapter" % ready_id).body
    files = {}
    with tarfile.open(fileobj=io.BytesIO(exported)) as t:
        for m in t.getmembers():
            files[m.name] = t.extractfile(m).read()
    doc = json.loads(files["ptune.json"])
    doc["backbone"]["fingerprint"] = "0" * 64
    files["ptune.json"] = json.dumps(doc).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    expect(d.request("POST", "/tasks/import", buf.getvalue(), {"Content-Type": "application/x-tar"}), 409,
           "fingerprint_mismatch")
    files["ptune.json"] = b"{not json"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    expect(d.request("POST", "/tasks/import", buf.getvalue(), {"Content-Type": "application/x-tar"}), 422,
           "invalid_adapter")


def api_keys(model, work):
    keys = os.path.join(work, "keys")
    with open(keys, "w") as f:
        f.write("# test keys\nadmin-0123456789abcdef admin\nclassify-0123456789abcdef classify\n")
    d = Daemon(model, os.path.join(work, "keys.db"), ["--api-keys-file", keys], log_name="keys.log").start()
    admin = {"Authorization": "Bearer admin-0123456789abcdef"}
    user = {"Authorization": "Bearer classify-0123456789abcdef"}
    try:
        for path in ("/healthz", "/readyz", "/metrics"):
            expect(d.request("GET", path), 200)
        r = expect(d.request("GET", "/datasets"), 401, "unauthorized")
        check(r.header("WWW-Authenticate") == "Bearer", r.headers)
        expect(d.request("GET", "/info", headers={"Authorization": "Bearer wrong-0123456789abcdef"}), 401,
               "unauthorized")
        expect(d.request("GET", "/info", headers={"Authorization": "Basic YWJjOmRlZg=="}), 401, "unauthorized")
        expect(d.request("GET", "/datasets", headers=user), 200)
        info = expect(d.request("GET", "/info", headers=user), 200).json()
        check(info["auth"] == {"enabled": True, "keys": 2, "your_scope": "classify"}, info["auth"])
        check(info["backbone"]["pretrained"] is False and len(info["backbone"]["fingerprint"]) == 64, info)
        expect(d.request("POST", "/datasets", "a\tb\n", dict(TSV, **user)), 403, "forbidden")
        expect(d.request("POST", "/datasets", "a\tb\n", dict(TSV, **admin)), 201)
        expect(d.json("POST", "/classify", {"task": 1, "text": "x"}, user), 404, "not_found")  # past auth
        expect(d.json("POST", "/tasks", {"name": "x"}, user), 403, "forbidden")
        expect(d.request("DELETE", "/datasets/1", headers=user), 403, "forbidden")
        expect(d.request("DELETE", "/datasets/1", headers=admin), 204)
    finally:
        check(d.stop() == 0, "daemon did not exit 0")


def bad_configuration(model, work):
    bad_keys = os.path.join(work, "bad-keys")
    with open(bad_keys, "w") as f:
        f.write("admin-0123456789abcdef superuser\n")
    cases = [
        (["--model", model, "--bogus"], {}, "unknown option"),
        (["--model", model, "--workers", "0"], {}, "--workers"),
        (["--model", model, "--log-format", "xml"], {}, "--log-format"),
        (["--model", model, "--max-body", "12Q"], {}, "--max-body"),
        (["--model", model, "--listen", "127.0.0.1"], {}, "listen"),
        ([], {}, "--model"),
        (["--model", os.path.join(work, "no-such-model")], {}, "--model"),
        (["--model", model, "--api-keys-file", bad_keys], {}, "line 1"),
        (["--model", model, "--api-keys-file", os.path.join(work, "missing")], {}, "--api-keys-file"),
        (["--model", model], {"PTUNED_WORKERS": "many"}, "PTUNED_WORKERS"),
        (["--model", model, "--db", os.path.join(work, "no", "such", "dir", "x.db")], {}, "--db"),
        (["--model", model, "--queue-limit", "8", "--max-client-batch", "16"], {}, "--queue-limit"),
    ]
    for args, env, what in cases:
        p = subprocess.run([os.environ["PTUNED_BIN"]] + args + ["--listen" if "--listen" not in args else "--workers",
                                                                "127.0.0.1:0" if "--listen" not in args else "1"],
                           capture_output=True, text=True, timeout=30, env=dict(os.environ, **env))
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2, "%r: exit %d, stderr %r" % (args, p.returncode, p.stderr))
        check(len(lines) == 1 and what in lines[0] and lines[0].startswith("ptuned: "), (args, p.stderr))
    p = subprocess.run([os.environ["PTUNED_BIN"], "--help"], capture_output=True, text=True)
    check(p.returncode == 0, p)
    for flag in ("--model", "--db", "--listen", "--workers", "--threads", "--max-body", "--max-batch-tokens",
                 "--max-client-batch", "--queue-limit", "--api-keys-file", "--log-format"):
        check(flag in p.stdout, "--help does not list " + flag)


def main():
    env_or_skip()
    work = scratch("http-errors")
    model = make_model(os.path.join(work, "model"))
    bad_configuration(model, work)
    d = Daemon(model, os.path.join(work, "ptuned.db"),
               ["--max-body", "65536", "--max-client-batch", "4", "--queue-limit", "4", "--log-format", "json"]).start()
    try:
        tsv_faults(d)
        ds = d.upload(synthetic_rows(32, seed=1), name="synthetic")
        routing_and_types(d, ds)
        task_errors(d, ds)
        ready = expect(d.json("POST", "/tasks", {"name": "ready", "train_dataset": ds, "epochs": 2}), 202).json()
        check(d.wait_task(ready["id"])["status"] == "succeeded", "training failed")
        classify_errors(d, ready["id"])
        import_errors(d, ready["id"])
        conflicts(d, ds)
        queue_full(d, ready["id"])
        deleted(d, ds)
        check(d.stop() == 0, "daemon did not exit 0")
        log = d.log().splitlines()
        requests = [json.loads(line) for line in log if line.startswith("{") and '"msg":"request"' in line]
        check(len(requests) >= len(seen), "fewer request log lines (%d) than requests" % len(requests))
        check(all({"method", "path", "status", "bytes", "duration_ms", "request_id"} <= set(r) for r in requests),
              requests[:3])
    finally:
        d.stop()
    api_keys(model, work)
    five = [r for r in seen if r.status >= 500]
    check(not five, "5xx answers: %r" % five[:3])
    print("http errors: %d answers checked, none 5xx" % len(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
