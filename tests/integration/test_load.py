"""Load: 32 concurrent classify clients for PTUNE_LOAD_SECONDS (default 20) while a training job runs,
each request for one of two tasks (different templates and verbalizers), so that merged passes mix tasks.
No 5xx, every answer equals the offline `ptune classify` answer for its text, and the training job
succeeds. Prints requests/s and p50/p99 latency.

"Equals": the same label and the same probabilities within SCORE_TOL. The daemon merges texts of
concurrent requests into one forward pass. The engine's own products (AVX-512 CPUs) sum every row in the
same order whatever the batch, so there the answers are bit-identical (test-bert asserts it at the engine);
OpenBLAS, used elsewhere, sums in an order that may depend on the batch's shape, so a probability can move
by a few float32 ulps with the company a text keeps (measured: up to ~3e-7). A label may differ only where
the offline top two are within that tolerance (a tie).

PTUNE_LOAD_MODEL=DIR runs it on another backbone (e.g. a bert-base-sized one) instead of the small
generated model."""
import http.client
import json
import multiprocessing
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import (Daemon, check, env_or_skip, export_to_dir, make_model, offline_classify,  # noqa: E402
                            scratch, synthetic_rows)

CLIENTS = 32
SCORE_TOL = 1e-5


# Set before the client processes fork (one process per client: Python threads would make the GIL, not the
# daemon, the bottleneck).
SHARED = {}


def client(seed):
    port, tasks, pool, stop_at = (SHARED[k] for k in ("port", "tasks", "pool", "stop_at"))
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    lat, bad, statuses, checked = [], [], {}, 0
    while time.time() < stop_at:
        task = rng.choice(sorted(tasks))
        expected = tasks[task]
        texts = [rng.choice(pool) for _ in range(rng.randint(1, 4))]
        body = json.dumps({"task": task, "texts": texts}, ensure_ascii=False).encode()
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/classify", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            bad.append("connection error: %r" % e)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        lat.append(time.perf_counter() - t0)
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status != 200:
            bad.append("%d %s" % (r.status, data[:200]))
            continue
        checked += len(texts)
        for text, res in zip(texts, json.loads(data)["results"]):
            label, scores = expected[text]
            got = {t["label"]: t["score"] for t in res["top"]}
            top2 = sorted(scores.values())[-2:]
            tie = len(top2) == 2 and top2[1] - top2[0] < 2 * SCORE_TOL
            if (res["label"] != label and not tie) or set(got) != set(scores) or \
                    any(abs(got[k] - scores[k]) > SCORE_TOL for k in scores):
                bad.append("text %r: daemon %s %r, offline %s %r" % (text, res["label"], got, label, scores))
    conn.close()
    return lat, bad, statuses, checked


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def main():
    env_or_skip()
    seconds = float(os.environ.get("PTUNE_LOAD_SECONDS", "20"))
    work = scratch("load")
    model = os.environ.get("PTUNE_LOAD_MODEL") or make_model(os.path.join(work, "model"))
    d = Daemon(model, os.path.join(work, "ptuned.db")).start()
    try:
        ds = d.upload(synthetic_rows(64, seed=5), name="train")
        # Two tasks with different templates and verbalizers: merged passes mix their rows.
        configs = [{"name": "serve-a", "epochs": 4, "lr": 0.02},
                   {"name": "serve-b", "epochs": 3, "template": "{prompt:3}{text}{prompt:2}{mask}",
                    "verbalizer": {"正": ["好", "行"], "负": ["差"]}}]
        pool = sorted(set(t for _, t in synthetic_rows(300, seed=11)))
        tasks = {}
        for cfg in configs:
            task = d.json("POST", "/tasks", dict(cfg, train_dataset=ds)).json()["id"]
            check(d.wait_task(task)["status"] == "succeeded", "training %s failed" % cfg["name"])
            prompt = os.path.join(work, "prompt-%d" % task)
            export_to_dir(d, task, prompt)
            tasks[task] = offline_classify(model, prompt, pool)

        # A training job that runs through the load (classify has priority, training keeps stepping).
        bg = d.json("POST", "/tasks", {"name": "background", "train_dataset": ds, "epochs": 30, "batch_size": 4}).json()
        d.wait_task(bg["id"], until=("running", "succeeded", "failed"))
        t0 = time.time()
        SHARED.update(port=d.port, tasks=tasks, pool=pool, stop_at=t0 + seconds)
        with multiprocessing.get_context("fork").Pool(CLIENTS) as workers:
            out = workers.map(client, range(CLIENTS))
        elapsed = time.time() - t0
        during = d.request("GET", "/tasks/%d" % bg["id"]).json()
        lat = [x for o in out for x in o[0]]
        bad = [x for o in out for x in o[1]]
        statuses = {}
        for o in out:
            for k, v in o[2].items():
                statuses[k] = statuses.get(k, 0) + v
        print("load: %d clients, %.1fs, %d requests, %.1f requests/s, p50 %.1f ms, p99 %.1f ms, statuses %r" % (
            CLIENTS, elapsed, len(lat), len(lat) / elapsed, 1e3 * percentile(lat, 50), 1e3 * percentile(lat, 99),
            statuses))
        print("load: background training at step %s of %s when the load ended" % (
            (during.get("progress") or {}).get("step"), (during.get("progress") or {}).get("total_steps")))
        check(lat, "no request completed")
        check(not bad, "%d bad answers, e.g. %s" % (len(bad), bad[:3]))
        print("load: %d texts checked against the offline answers" % sum(o[3] for o in out))
        done = d.wait_task(bg["id"], timeout=600)
        check(done["status"] == "succeeded", "background training: %r" % done)
        metrics = d.request("GET", "/metrics").body.decode()
        batches = [l for l in metrics.splitlines() if l.startswith("ptuned_classify_batch_rows_sum ") or
                   l.startswith("ptuned_classify_batch_rows_count ")]
        rows, passes = (float(l.split()[1]) for l in batches)
        print("load: %.2f texts per merged forward pass on average" % (rows / passes))
        check(d.stop() == 0, "daemon did not exit 0")
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
