"""Restart and crash recovery against the real daemon: after SIGTERM and a new start, datasets, tasks and
prompts are there and classification is identical; kill -9 during training leaves a sound database
(PRAGMA integrity_check) and the task runs again to success; SIGTERM during training puts the task back
in the queue without counting the attempt."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import Daemon, check, env_or_skip, make_model, scratch, synthetic_rows, tsv  # noqa: E402

TEXTS = [t for _, t in synthetic_rows(24, seed=99)]


def snapshot(d):
    return d.request("GET", "/datasets").json(), d.request("GET", "/tasks").json()["tasks"]


def wait_step(d, task_id, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = d.request("GET", "/tasks/%d" % task_id).json()
        if t["status"] == "running" and t["progress"] and t["progress"]["step"] >= at_least:
            return t
        check(t["status"] in ("queued", "running"), "task ended early: %r" % t)
        time.sleep(0.05)
    raise AssertionError("task %d never reached step %d" % (task_id, at_least))


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0], \
            con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()


def main():
    env_or_skip()
    work = scratch("restart")
    model = make_model(os.path.join(work, "model"))
    db = os.path.join(work, "ptuned.db")
    d = Daemon(model, db).start()
    ds = d.upload(synthetic_rows(64, seed=3), name="synthetic")
    dev = d.upload(synthetic_rows(32, seed=4), name="dev")
    task = d.json("POST", "/tasks", {"name": "syn", "train_dataset": ds, "dev_dataset": dev, "epochs": 6,
                                     "lr": 0.02}).json()["id"]
    check(d.wait_task(task)["status"] == "succeeded", "training failed")
    before = d.json("POST", "/classify", {"task": "syn", "texts": TEXTS}).json()
    state = snapshot(d)

    # 1. Stop and start: everything is there, classification identical.
    check(d.stop() == 0, "SIGTERM: exit code %r" % d.proc.returncode)
    check(not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0, "WAL left behind after a clean stop")
    d.start()
    check(snapshot(d) == state, "datasets or tasks changed across a restart")
    after = d.json("POST", "/classify", {"task": "syn", "texts": TEXTS}).json()
    check(after == before, "classification changed across a restart")
    print("restart: %d datasets, %d tasks, %d classifications identical" % (len(state[0]["datasets"]),
                                                                            len(state[1]), len(TEXTS)))

    # 2. kill -9 in the middle of training: the task runs again to success.
    long_cfg = {"name": "crash", "train_dataset": ds, "epochs": 20, "batch_size": 4, "lr": 0.01}
    crash = d.json("POST", "/tasks", long_cfg).json()["id"]
    wait_step(d, crash, 20)
    d.kill9()
    con = sqlite3.connect(db)
    row = con.execute("SELECT status, attempts FROM tasks WHERE id = ?", (crash,)).fetchone()
    con.close()
    check(row == ("running", 1), "killed while training, yet the task is %r" % (row,))
    status, fk = integrity(db)
    check(status == "ok" and not fk, "integrity after kill -9: %r %r" % (status, fk))
    d.start()
    t = d.wait_task(crash, timeout=600)
    check(t["status"] == "succeeded" and t["attempts"] == 2, "after kill -9: %r" % {k: t[k] for k in
                                                                                     ("status", "attempts", "error")})
    check(d.json("POST", "/classify", {"task": crash, "texts": TEXTS[:3]}).status == 200, "crash task unusable")
    print("kill -9: task %d re-ran to success (attempts %d), integrity_check ok" % (crash, t["attempts"]))

    # 3. SIGTERM in the middle of training: queued again, attempt not counted, then runs to success.
    drain = d.json("POST", "/tasks", dict(long_cfg, name="drain")).json()["id"]
    wait_step(d, drain, 20)
    t0 = time.time()
    check(d.stop(signal.SIGTERM) == 0, "SIGTERM during training: exit %r" % d.proc.returncode)
    stop_s = time.time() - t0
    con = sqlite3.connect(db)
    row = con.execute("SELECT status, attempts FROM tasks WHERE id = ?", (drain,)).fetchone()
    con.close()
    check(row == ("queued", 0), "after SIGTERM the task is %r" % (row,))
    d.start()
    t = d.wait_task(drain, timeout=600)
    check(t["status"] == "succeeded" and t["attempts"] == 1, t)
    print("SIGTERM during training: stopped in %.2fs, task re-queued and succeeded" % stop_s)
    # --healthcheck (the container HEALTHCHECK) answers 0 while the daemon serves, 1 once it is gone.
    hc = [os.environ["PTUNED_BIN"], "--healthcheck", "--listen", "127.0.0.1:%d" % d.port]
    check(subprocess.run(hc, capture_output=True).returncode == 0, "healthcheck of a live daemon failed")
    check(d.stop() == 0, "final stop")
    p = subprocess.run(hc, capture_output=True, text=True)
    check(p.returncode == 1 and "did not answer 200" in p.stderr, (p.returncode, p.stderr))
    status, fk = integrity(db)
    check(status == "ok" and not fk, (status, fk))

    # 4. --workers 2: two tasks train at the same time, both to success.
    d2 = Daemon(model, os.path.join(work, "two.db"), ["--workers", "2"], log_name="two.log").start()
    try:
        ds2 = d2.upload(synthetic_rows(64, seed=3), name="synthetic")
        ids = [d2.json("POST", "/tasks", dict(long_cfg, name="w%d" % i, train_dataset=ds2, epochs=6)).json()["id"]
               for i in range(2)]
        both = False
        deadline = time.time() + 120
        while not both and time.time() < deadline:
            states = [d2.request("GET", "/tasks/%d" % i).json()["status"] for i in ids]
            both = states == ["running", "running"]
            check(all(s in ("queued", "running") for s in states), states)
            time.sleep(0.02)
        check(both, "two workers never trained at once")
        for i in ids:
            check(d2.wait_task(i, timeout=600)["status"] == "succeeded", "worker task %d" % i)
        check(d2.stop() == 0, "stop with two workers")
    finally:
        d2.stop()
    print("two workers: two tasks trained at once, both succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
