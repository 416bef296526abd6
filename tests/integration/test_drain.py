"""SIGTERM / SIGINT draining against the real daemon: a classify request in flight when the signal arrives
is answered in full, new connections are refused from the signal on, and the daemon exits 0 with its
database closed (no WAL left behind). A backbone a little larger than the other tests' keeps the request
in flight long enough to signal in the middle of it."""
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import Daemon, check, env_or_skip, make_model, scratch, synthetic_rows  # noqa: E402


def connect_refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def main():
    env_or_skip()
    work = scratch("drain")
    model = make_model(os.path.join(work, "model"), layers=4, hidden=256, heads=4, intermediate=1024)
    db = os.path.join(work, "ptuned.db")
    d = Daemon(model, db, ["--max-client-batch", "64", "--max-batch-tokens", "512"]).start()
    try:
        ds = d.upload(synthetic_rows(16, seed=2), name="d")
        task = d.json("POST", "/tasks", {"name": "t", "train_dataset": ds, "epochs": 1}).json()["id"]
        check(d.wait_task(task)["status"] == "succeeded", "training failed")
        texts = ["好" * 120 + str(i) for i in range(64)]
        check(d.json("POST", "/classify", {"task": task, "texts": texts[:8]}).status == 200, "warm-up")
        t0 = time.time()  # timed once the workspaces have grown: the full request takes ~8 times this
        check(d.json("POST", "/classify", {"task": task, "texts": texts[:8]}).status == 200, "warm-up")
        one_pass = time.time() - t0
        for sig in (signal.SIGTERM, signal.SIGINT):
            log_start = len(d.log().splitlines())
            answer = {}

            def call():
                answer["r"] = d.json("POST", "/classify", {"task": task, "texts": texts})

            caller = threading.Thread(target=call)
            caller.start()
            time.sleep(max(0.05, one_pass / 2))  # the request is being computed now
            d.proc.send_signal(sig)
            deadline = time.time() + 30
            while "draining" not in "\n".join(d.log().splitlines()[log_start:]) and time.time() < deadline:
                time.sleep(0.01)
            refused = connect_refused(d.port)
            caller.join()
            rc = d.proc.wait(timeout=120)
            r = answer["r"]
            check(r.status == 200 and len(r.json()["results"]) == 64, "in-flight request: %r" % r)
            check(refused, "a new connection was accepted while draining")
            check(rc == 0, "exit code %d after %s" % (rc, sig.name))
            check(not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0, "WAL left behind")
            lines = d.log().splitlines()[log_start:]
            sig_at = [i for i, l in enumerate(lines) if "signal" in l]
            req_at = [i for i, l in enumerate(lines) if "/classify" in l and "status=200" in l]
            check(sig_at and req_at and sig_at[0] < req_at[-1], "the signal did not land mid-request:\n" +
                  "\n".join(lines))
            check(any("draining" in l for l in lines) and "stopped" in lines[-1], lines)
            print("drain (%s): the in-flight request of 64 texts was answered, new connections refused, exit 0"
                  % sig.name)
            d.start()
        check(d.request("GET", "/tasks/%d" % task).json()["status"] == "succeeded", "task lost")
        check(d.stop() == 0, "final stop")
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
