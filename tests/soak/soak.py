#!/usr/bin/env python3
"""Soak: the real bin/ptuned under mixed load for SOAK_SECONDS (default 600), python3 standard library only.

Load, all at once: SOAK_CLIENTS (default 4) classify clients (single texts and lists, by task id and by
name), an uploader (good datasets as TSV and multipart, bad ones of every kind), a task maker (tasks that
run to the end, tasks cancelled mid-way, deletes of finished tasks and of datasets), and two restarts
(SIGTERM, then start again on the same database) at 10% and 20% of the run. The daemon's RSS
is read from /proc every SOAK_SAMPLE seconds (default 2).

Promises checked (any broken one fails the run, exit 1):
  - no 5xx, and every answer has the status its request calls for (bad uploads 4xx, good ones 201, ...);
  - a text classified again (also after a restart) gets the same label and scores (within 1e-5);
  - RSS: in the last daemon lifetime (the restarts come at 10% and 20% of the run, so it is 80% of it),
    after warm-up (its first 30%), the median of the last 10 samples is at most 5% above the median of
    the first 10 samples after warm-up; every sample goes to $PTUNE_TMP/soak-rss.csv;
  - at the end: every accepted dataset we did not delete is there with its rows and sha256, every task
    we saw succeed and did not delete is there and succeeded, no task is left queued or running, every
    SIGTERM exits 0, and PRAGMA integrity_check says ok.
The figures go to stdout and to $PTUNE_TMP/soak-summary.json.
"""
import json
import os
import random
import sqlite3
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ptuned_harness as h  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "2"))
MAX_BODY = 256 * 1024
TEMPLATE = "{mask}{prompt:4}{text}"
# The restarts come early, so that the last lifetime (80% of the run) is long enough to show drift.
RESTARTS_AT = (0.1, 0.2)
RSS_WARMUP, RSS_WINDOW, RSS_GROWTH = 0.3, 10, 0.05
# Under AddressSanitizer freed memory sits in quarantine and RSS means little: SOAK_CHECK_RSS=0 (what
# `make SAN=1 soak` sets) reports it without judging it, and LeakSanitizer judges leaks at each exit.
CHECK_RSS = os.environ.get("SOAK_CHECK_RSS", "1") != "0"
CONN_ERRORS = (ConnectionError, OSError, h.http.client.HTTPException)


class Soak:
    def __init__(self, work):
        self.work = work
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.restarting = threading.Event()
        self.statuses = {}          # "kind status" -> count
        self.problems = []          # broken promises, one line each (the first 50)
        self.n_problems = 0
        self.gap_errors = 0         # connection errors while the daemon restarts (expected)
        self.latencies = []         # classify, seconds
        self.answers = {}           # (task, text) -> (label, {label: score})
        self.datasets = {}          # id -> (rows, sha256) for every 201
        self.deleted_datasets = set()
        self.tasks = {}             # id -> "run" | "cancel"
        self.succeeded = set()
        self.deleted_tasks = set()
        self.segments = [[]]        # RSS samples (t, kB) per daemon lifetime
        self.exit_codes = []
        self.reused_ids = 0

    # ---- bookkeeping ----
    def problem(self, what):
        with self.lock:
            self.n_problems += 1
            if len(self.problems) < 50:
                self.problems.append(what)

    def call(self, kind, method, path, body=None, headers=None, want=(200,)):
        """One request; records its status, flags 5xx and unexpected ones. None on a connection error."""
        try:
            r = self.d.request(method, path, body, headers, timeout=120)
        except CONN_ERRORS as e:
            if self.restarting.is_set():
                with self.lock:
                    self.gap_errors += 1
                time.sleep(0.05)
            else:
                self.problem("%s %s %s: %s" % (kind, method, path, e))
            return None
        with self.lock:
            key = "%s %d" % (kind, r.status)
            self.statuses[key] = self.statuses.get(key, 0) + 1
        if r.status >= 500 or r.status not in want:
            self.problem("%s %s %s: %d (wanted %s): %s" % (kind, method, path, r.status, want, r.body[:200]))
        return r

    def note_new_id(self, new_id, deleted):
        """A new thing may get the id of a deleted one (SQLite reuses the highest rowid): count it."""
        if new_id in deleted:
            deleted.discard(new_id)
            self.reused_ids += 1

    def post_json(self, kind, path, obj, want):
        return self.call(kind, "POST", path, json.dumps(obj, ensure_ascii=False).encode(),
                         {"Content-Type": "application/json"}, want)

    # ---- the daemon ----
    def start(self, first=False):
        if first:
            self.d = h.Daemon(self.model, self.db, ["--workers", "2", "--threads", "1", "--max-body", str(MAX_BODY),
                                                    "--queue-limit", "256"], log_name="ptuned-soak.log")
        self.d.start()
        with self.lock:
            if not first:
                self.segments.append([])

    def restart(self):
        self.restarting.set()
        self.exit_codes.append(self.d.stop())
        self.start()
        time.sleep(1)
        self.restarting.clear()

    def sampler(self):
        while not self.stop.is_set():
            pid = self.d.proc.pid if self.d.proc and self.d.proc.poll() is None else None
            if pid and not self.restarting.is_set():
                try:
                    with open("/proc/%d/status" % pid) as f:
                        kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
                    with self.lock:
                        self.segments[-1].append((time.time(), kb))
                except (OSError, StopIteration):
                    pass
            self.stop.wait(SAMPLE)

    # ---- load ----
    def classifier(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            task = rng.choice(self.base_tasks)
            ref = task if rng.random() < 0.7 else self.task_names[task]
            texts = [t for _, t in h.synthetic_rows(rng.randint(1, 6), rng.randint(0, 40))]
            body = {"task": ref, "texts": texts} if len(texts) > 1 or rng.random() < 0.5 else {"task": ref,
                                                                                               "text": texts[0]}
            t0 = time.time()
            r = self.post_json("classify", "/classify", body, want=(200, 429))
            if r is None or r.status != 200:
                if r is not None:
                    time.sleep(0.05)
                continue
            with self.lock:
                self.latencies.append(time.time() - t0)
            results = r.json()["results"]
            if len(results) != len(texts):
                self.problem("classify: %d results for %d texts" % (len(results), len(texts)))
                continue
            for text, res in zip(texts, results):
                self.same_answer(task, text, res)

    def same_answer(self, task, text, res):
        scores = {t["label"]: t["score"] for t in res.get("top", [])}
        scores[res["label"]] = res["score"]
        with self.lock:
            old = self.answers.setdefault((task, text), (res["label"], scores))
        if old[0] != res["label"] or any(abs(old[1].get(k, v) - v) > 1e-5 for k, v in scores.items()):
            self.problem("classify: task %d text %r changed from %r to %r" % (task, text, old, (res["label"], scores)))

    def good_upload(self, rng, i):
        rows = h.synthetic_rows(rng.randint(8, 24), rng.randint(0, 10 ** 6))
        text = h.tsv(rows)
        kind = i % 3
        if kind == 0:
            r = self.call("upload", "POST", "/datasets?name=soak-%d" % i, text.encode(),
                          {"Content-Type": "text/tab-separated-values"}, want=(201,))
        elif kind == 1:
            crlf = ("\ufeff" + text.replace("\n", "\r\n")).encode()
            r = self.call("upload", "POST", "/datasets?name=soak-crlf-%d" % i, crlf, {"Content-Type": "text/plain"},
                          want=(201,))
        else:
            b = "soakboundary%d" % i
            body = ("--%s\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nsoak-mp-%d\r\n"
                    "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"train.tsv\"\r\n"
                    "Content-Type: text/tab-separated-values\r\n\r\n%s\r\n--%s--\r\n" % (b, i, b, text, b)).encode()
            r = self.call("upload", "POST", "/datasets", body, {"Content-Type": "multipart/form-data; boundary=" + b},
                          want=(201,))
        if r is not None and r.status == 201:
            ds = r.json()
            if ds["rows"] != len(rows):
                self.problem("upload: %d rows stored for %d sent" % (ds["rows"], len(rows)))
            with self.lock:
                self.note_new_id(ds["id"], self.deleted_datasets)
                self.datasets[ds["id"]] = (ds["rows"], ds["sha256"])
            return ds["id"]
        return None

    BAD_UPLOADS = [
        ("no tab", b"pos\tgood\nthis line has no tab\n", "text/tab-separated-values", (400,)),
        ("empty label", b"\tno label\n", "text/tab-separated-values", (400,)),
        ("empty text", b"pos\t\n", "text/tab-separated-values", (400,)),
        ("bad utf-8", b"pos\t\xff\xfe bad\n", "text/tab-separated-values", (400,)),
        ("nul byte", b"pos\ta\x00b\n", "text/tab-separated-values", (400,)),
        ("no rows", b"\n\r\n\n", "text/tab-separated-values", (400,)),
        ("wrong type", b"pos\tgood\n", "image/png", (415,)),
        ("bad multipart", b"--x\r\nno headers here", "multipart/form-data; boundary=x", (400,)),
        ("oversize", None, "text/tab-separated-values", (413,)),
    ]

    def bad_upload(self, rng):
        what, body, ctype, want = rng.choice(self.BAD_UPLOADS)
        if body is None:
            body = ("pos\t" + "好" * (MAX_BODY // 3 + 16) + "\n").encode()
        self.call("upload-bad", "POST", "/datasets?name=bad", body, {"Content-Type": ctype}, want=want)

    def uploader(self):
        rng = random.Random(1)
        i = 0
        while not self.stop.is_set():
            i += 1
            if rng.random() < 0.5:
                self.good_upload(rng, i)
            else:
                self.bad_upload(rng)
            self.stop.wait(rng.uniform(0.1, 0.5))

    def tasker(self):
        rng = random.Random(2)
        i = 0
        while not self.stop.is_set():
            i += 1
            ds = self.good_upload(rng, 10 ** 6 + i)
            if ds is None:
                continue
            cancel = i % 3 == 0
            cfg = {"name": "soak-task-%d" % i, "train_dataset": ds, "template": TEMPLATE,
                   "epochs": 40 if cancel else 2, "batch_size": 8, "lr": 0.01, "seed": i}
            if i % 4 == 1:
                cfg.pop("train_dataset")
                cfg["train_tsv"] = h.tsv(h.synthetic_rows(12, i))
            r = self.post_json("task-create", "/tasks", cfg, want=(202,))
            if r is None or r.status != 202:
                continue
            tid = r.json()["id"]
            with self.lock:
                self.note_new_id(tid, self.deleted_tasks)
                self.succeeded.discard(tid)
                self.tasks[tid] = "cancel" if cancel else "run"
            if cancel:
                self.stop.wait(rng.uniform(0.2, 3))
                self.call("task-cancel", "POST", "/tasks/%d/cancel" % tid, b"", want=(200, 202, 409))
            self.settle(rng)

    def settle(self, rng):
        """Looks at every task; deletes some finished ones and some datasets (409 while in use is fine)."""
        with self.lock:
            ids = [t for t in self.tasks if t not in self.deleted_tasks and t not in self.base_tasks]
        for tid in ids:
            r = self.call("task-get", "GET", "/tasks/%d" % tid, want=(200,))
            if r is None or r.status != 200:
                continue
            status = r.json()["status"]
            if status == "succeeded":
                with self.lock:
                    self.succeeded.add(tid)
            if status in ("succeeded", "cancelled", "failed") and rng.random() < 0.3:
                r = self.call("task-delete", "DELETE", "/tasks/%d" % tid, want=(204,))
                if r is not None and r.status == 204:
                    with self.lock:
                        self.deleted_tasks.add(tid)
        with self.lock:
            alive = [d for d in self.datasets if d not in self.deleted_datasets and d not in self.base_datasets]
        if alive and rng.random() < 0.5:
            ds = rng.choice(alive)
            r = self.call("dataset-delete", "DELETE", "/datasets/%d" % ds, want=(204, 409))
            if r is not None and r.status == 204:
                with self.lock:
                    self.deleted_datasets.add(ds)
        self.call("list", "GET", "/tasks?status=running", want=(200,))
        self.call("list", "GET", "/datasets", want=(200,))

    # ---- the run ----
    def setup(self):
        self.model = h.make_model(os.path.join(self.work, "model"), layers=2, hidden=32, heads=2, intermediate=64)
        self.db = os.path.join(self.work, "soak.db")
        self.start(first=True)
        self.base_datasets, self.base_tasks, self.task_names = set(), [], {}
        for k in range(2):
            ds = self.d.upload(h.synthetic_rows(24, 100 + k), name="base-%d" % k)
            self.datasets[ds] = (24, self.d.request("GET", "/datasets/%d" % ds).json()["sha256"])
            self.base_datasets.add(ds)
            name = "base-task-%d" % k
            r = self.d.json("POST", "/tasks", {"name": name, "train_dataset": ds, "template": TEMPLATE, "epochs": 3,
                                               "lr": 0.01})
            h.check(r.status == 202, "base task: %r" % r)
            tid = r.json()["id"]
            h.check(self.d.wait_task(tid)["status"] == "succeeded", "base task %d did not succeed" % tid)
            self.base_tasks.append(tid)
            self.task_names[tid] = name
            self.tasks[tid] = "base"

    def run(self):
        self.setup()
        threads = [threading.Thread(target=self.sampler, daemon=True)]
        threads += [threading.Thread(target=self.classifier, args=(s,), daemon=True) for s in range(CLIENTS)]
        threads += [threading.Thread(target=self.uploader, daemon=True), threading.Thread(target=self.tasker, daemon=True)]
        t0 = time.time()
        for t in threads:
            t.start()
        for at in RESTARTS_AT:
            self.stop.wait(max(0.0, t0 + SECONDS * at - time.time()))
            self.restart()
        self.stop.wait(max(0.0, t0 + SECONDS - time.time()))
        self.stop.set()
        for t in threads:
            t.join(timeout=180)
        self.elapsed = time.time() - t0
        self.final_checks()

    def final_checks(self):
        deadline = time.time() + 300
        while time.time() < deadline:
            busy = [t for t in self.d.request("GET", "/tasks").json()["tasks"] if t["status"] in ("queued", "running")]
            if not busy:
                break
            time.sleep(0.5)
        else:
            self.problem("tasks still queued or running 300 s after the load stopped: %s" % [t["id"] for t in busy])
        for ds, (rows, sha) in sorted(self.datasets.items()):
            if ds in self.deleted_datasets:
                continue
            r = self.d.request("GET", "/datasets/%d" % ds)
            if r.status != 200 or r.json()["rows"] != rows or r.json()["sha256"] != sha:
                self.problem("dataset %d missing or changed at the end: %r" % (ds, r))
        for tid in sorted(self.succeeded - self.deleted_tasks):
            r = self.d.request("GET", "/tasks/%d" % tid)
            if r.status != 200 or r.json()["status"] != "succeeded":
                self.problem("task %d succeeded but at the end: %r" % (tid, r))
        self.final_tasks = {}
        for t in self.d.request("GET", "/tasks").json()["tasks"]:
            self.final_tasks[t["status"]] = self.final_tasks.get(t["status"], 0) + 1
        self.exit_codes.append(self.d.stop())
        if any(c != 0 for c in self.exit_codes):
            self.problem("SIGTERM exit codes %s (0 wanted)" % self.exit_codes)
        con = sqlite3.connect(self.db)
        self.integrity = con.execute("PRAGMA integrity_check").fetchall()
        con.close()
        if self.integrity != [("ok",)]:
            self.problem("integrity_check: %s" % self.integrity)
        last = len(self.segments) - 1
        self.rss = [self.rss_figures(s, checked=CHECK_RSS and i == last) for i, s in enumerate(self.segments)]
        with open(os.path.join(os.environ["PTUNE_TMP"], "soak-rss.csv"), "w") as f:
            f.write("lifetime,seconds,rss_kb\n")
            for i, seg in enumerate(self.segments):
                f.writelines("%d,%.1f,%d\n" % (i, t - seg[0][0], kb) for t, kb in seg)

    def rss_figures(self, seg, checked):
        if len(seg) < 2 * RSS_WINDOW:
            if checked:
                self.problem("too few RSS samples (%d) in the last lifetime to judge drift" % len(seg))
            return {"samples": len(seg), "checked": False}
        t_start, t_end = seg[0][0], seg[-1][0]
        after = [kb for t, kb in seg if t >= t_start + RSS_WARMUP * (t_end - t_start)]
        if len(after) < 2 * RSS_WINDOW:
            if checked:
                self.problem("too few RSS samples (%d) after warm-up to judge drift" % len(after))
            return {"samples": len(seg), "checked": False}
        base, end = statistics.median(after[:RSS_WINDOW]), statistics.median(after[-RSS_WINDOW:])
        growth = end / base - 1
        if checked and growth > RSS_GROWTH:
            self.problem("RSS grew %.1f%% after warm-up (%d kB -> %d kB)" % (100 * growth, base, end))
        return {"samples": len(seg), "seconds": round(t_end - t_start, 1), "first_kb": seg[0][1],
                "after_warmup_kb": base, "end_kb": end, "peak_kb": max(kb for _, kb in seg),
                "growth_pct": round(100 * growth, 2), "checked": checked}

    def summary(self):
        lat = sorted(self.latencies)
        pct = (lambda p: round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1)) if lat else (lambda p: None)
        return {
            "seconds": round(self.elapsed, 1), "clients": CLIENTS, "restarts": 2,
            "requests": sum(self.statuses.values()), "statuses": dict(sorted(self.statuses.items())),
            "server_errors": sum(v for k, v in self.statuses.items() if int(k.split()[-1]) >= 500),
            "connection_errors_during_restarts": self.gap_errors,
            "classify": {"ok": len(lat), "per_s": round(len(lat) / self.elapsed, 1), "p50_ms": pct(0.5),
                         "p99_ms": pct(0.99), "distinct_texts_rechecked": len(self.answers)},
            "datasets_accepted": self.statuses.get("upload 201", 0),
            "datasets_deleted": self.statuses.get("dataset-delete 204", 0),
            "tasks_created": self.statuses.get("task-create 202", 0), "tasks_seen_succeeded": len(self.succeeded),
            "tasks_deleted": self.statuses.get("task-delete 204", 0), "ids_reused_after_delete": self.reused_ids,
            "tasks_at_end": self.final_tasks,
            "rss": self.rss, "sigterm_exit_codes": self.exit_codes, "integrity_check": self.integrity[0][0],
            "problems": self.n_problems, "first_problems": self.problems,
        }


def main():
    h.env_or_skip()
    work = h.scratch("soak")
    s = Soak(work)
    try:
        s.run()
    finally:
        if getattr(s, "d", None) and s.d.proc and s.d.proc.poll() is None:
            s.d.kill9()
    out = s.summary()
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    with open(os.path.join(os.environ["PTUNE_TMP"], "soak-summary.json"), "w") as f:
        f.write(text + "\n")
    if out["problems"]:
        print("soak: FAILED, %d broken promises (log: %s)" % (out["problems"], s.d.log_path))
        return 1
    print("soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
