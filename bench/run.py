"""make bench: ptune against PyTorch eager on the same bert-base-sized weights, in one run.

Generates the model once (BENCH_MODEL, by default build/bench/bert-base: 12 layers, hidden 768, 12
heads, intermediate 3072, the CJK vocabulary) and reuses it, then prints JSON lines:
  - the machine's OpenBLAS sgemm rate (`ptune bench --sgemm`, the shape of a batch-8 FFN product), and
    the engine's own product on that shape where the CPU has AVX-512;
  - the grid of the performance issue: inference 1x128, 8x128, 1x32, 32x64 and a training step 8x128,
    each row BENCH_ROUNDS rounds of ptune and torch interleaved (the order alternating), every round a
    median of BENCH_ITERS iterations; a row reports the median over its rounds and the ratio;
  - end to end: the texts of $PTUNE_SHARED/data/eprstmt/test_public.tsv through a live bin/ptuned's
    POST /classify from 8 concurrent clients (one text per request) against the PyTorch loop that
    pads batches of 32 to 128 tokens, with how often the two agree on the label;
  - a summary: every target of the issue, met or not.
Both sides run on the same BENCH_THREADS (default 2) OpenBLAS threads; torch with set_num_threads(1).
OPENBLAS_CORETYPE is left as the environment has it. Without torch in TORCH_PYTHON only ptune's
numbers are printed and the ratios are null. Standard library only.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import ptuned_harness  # noqa: E402

PTUNE = os.environ["PTUNE_BIN"]
TORCH_PYTHON = os.environ.get("TORCH_PYTHON", "/usr/bin/python3")
TMP = os.environ.get("PTUNE_TMP", "/tmp")
SHARED = os.environ.get("PTUNE_SHARED", "")
MODEL = os.environ.get("BENCH_MODEL") or os.path.join(os.environ.get("PTUNE_SRC", "."), "build/bench/bert-base")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ITERS = int(os.environ.get("BENCH_ITERS", "3"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
CLIENTS = 8
GRID = [("infer", 1, 128), ("infer", 8, 128), ("infer", 1, 32), ("infer", 32, 64), ("train", 8, 128)]
TARGETS = {"infer 1x128": 1.3, "infer 8x128": 1.15, "train 8x128": 1.3}
SGEMM_FRACTION, E2E_RATIO, RSS_SLACK = 0.8, 2.0, 0.15
# bench/torch_bert.py's e2e loop pads to this, so the daemon's rows are cut to it as well
MAX_SEQ = 128
ENV = dict(os.environ, OPENBLAS_NUM_THREADS=str(THREADS))


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def run_json(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    if p.returncode != 0:
        sys.exit("bench: %s failed (exit %d): %s" % (" ".join(argv[:3]), p.returncode, p.stderr.strip()))
    return json.loads(p.stdout.splitlines()[-1])


def ensure_model():
    if os.path.exists(os.path.join(MODEL, "model.safetensors")):
        return
    tmp = MODEL + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([PTUNE, "init-model", "--out", tmp, "--layers", "12", "--hidden", "768", "--heads", "12",
                    "--intermediate", "3072", "--cjk-vocab", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    os.rename(tmp, MODEL)


def have_torch():
    return subprocess.run([TORCH_PYTHON, "-c", "import torch"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


ENGINE_GEMM = []  # the engine's own product on the same shape, measured with each OpenBLAS sample


def sgemm():
    r = run_json([PTUNE, "bench", "--sgemm", "--threads", str(THREADS), "--iters", "10"])
    if "engine_gflops" in r:
        ENGINE_GEMM.append(r["engine_gflops"])
    return r["gflops"]


def grid_row(kind, batch, seq, torch, sgemm_rates):
    name = "%s %dx%d" % (kind, batch, seq)
    common = ["--model", MODEL, "--batch", str(batch), "--seq", str(seq), "--iters", str(ITERS)]
    common += ["--train"] if kind == "train" else []
    ours, theirs = [], []
    for r in range(ROUNDS):
        if name == "infer 8x128":
            sgemm_rates.append(sgemm())
        sides = [("ptune", [PTUNE, "bench", "--threads", str(THREADS)] + common)]
        if torch:
            sides.append(("torch", [TORCH_PYTHON, os.path.join(HERE, "torch_bert.py")] + common))
        for side, argv in sides if r % 2 == 0 else sides[::-1]:
            (ours if side == "ptune" else theirs).append(run_json(argv))
    ms = median([o["ms_per_batch"] for o in ours])
    row = {"row": name, "batch": batch, "seq": seq, "train": kind == "train", "threads": THREADS,
           "ms_per_batch": round(ms, 2), "seq_per_s": round(batch * 1e3 / ms, 3),
           "gflops": round(median([o["gflops"] for o in ours]), 1),
           "peak_rss_mb": max(o["peak_rss_mb"] for o in ours), "weights_mb": ours[0]["weights_mb"],
           "rounds_ms": [o["ms_per_batch"] for o in ours]}
    if torch:
        tms = median([t["ms_per_batch"] for t in theirs])
        row.update(torch_ms_per_batch=round(tms, 2), torch_seq_per_s=round(batch * 1e3 / tms, 3),
                   torch_rounds_ms=[t["ms_per_batch"] for t in theirs], ratio=round(tms / ms, 3))
    else:
        row["ratio"] = None
    emit(row)
    return row


# ---- end to end ----

def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]


def vocab_ids(words):
    with open(os.path.join(MODEL, "vocab.txt"), encoding="utf-8") as f:
        index = {w.rstrip("\n"): i for i, w in enumerate(f)}
    return [index[w] for w in words]


def tokenize(texts):
    p = subprocess.run([PTUNE, "tokenize", "--model", MODEL, "--jsonl"], check=True, capture_output=True,
                       input="".join(json.dumps(t) + "\n" for t in texts), text=True)
    return [json.loads(line) for line in p.stdout.splitlines()]


def prompt_vectors(tar_bytes):
    """The learned vectors from the adapter archive's adapter_model.safetensors (F32, one tensor)."""
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        data = t.extractfile("adapter_model.safetensors").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    (name,) = [k for k in header if k != "__metadata__"]
    info = header[name]
    assert info["dtype"] == "F32", info
    begin, end = info["data_offsets"]
    flat = struct.unpack("<%df" % ((end - begin) // 4), data[8 + n + begin:8 + n + end])
    rows, cols = info["shape"]
    return [list(flat[i * cols:(i + 1) * cols]) for i in range(rows)]


def adapter_tar(daemon, verbalizer, train_rows):
    """A prompt for eprstmt on this backbone: trained once (one epoch) and kept next to the model."""
    path = MODEL + "-eprstmt-adapter.tar"
    if os.path.exists(path):
        with open(path, "rb") as f:
            body = f.read()
        r = daemon.request("POST", "/tasks/import?name=eprstmt", body, {"Content-Type": "application/x-tar"})
        assert r.status == 201, r
        return r.json()["id"], body
    r = daemon.json("POST", "/tasks", {"name": "eprstmt", "epochs": 1, "verbalizer": verbalizer,
                                       "max_seq_len": MAX_SEQ,
                                       "train_tsv": "".join("%s\t%s\n" % (lab, txt) for lab, txt in train_rows)})
    assert r.status == 202, r
    task = daemon.wait_task(r.json()["id"], timeout=3600)
    assert task["status"] == "succeeded", task
    body = daemon.request("GET", "/tasks/%d/adapter" % task["id"]).body
    with open(path + ".tmp", "wb") as f:
        f.write(body)
    os.rename(path + ".tmp", path)
    return task["id"], body


def classify_all(port, task, texts):
    """CLIENTS threads, each a keep-alive connection posting one text at a time; labels in text order."""
    labels = [None] * len(texts)
    lock = threading.Lock()
    todo = iter(range(len(texts)))
    errors = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                break
            body = json.dumps({"task": task, "text": texts[i]}, ensure_ascii=False).encode("utf-8")
            conn.request("POST", "/classify", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                errors.append("%d %s" % (r.status, data[:200]))
                break
            labels[i] = json.loads(data)["results"][0]["label"]
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        sys.exit("bench: POST /classify failed: " + errors[0])
    return seconds, labels


def end_to_end(torch):
    data = os.path.join(SHARED, "data", "eprstmt")
    if not os.path.isdir(data):
        emit({"row": "e2e eprstmt", "skipped": "no %s (PTUNE_SHARED)" % data})
        return None
    verbalizer = {lab: [w] for lab, w in read_tsv(os.path.join(data, "verbalizer.tsv"))}
    texts = [t for _, t in read_tsv(os.path.join(data, "test_public.tsv"))]
    scratch = os.path.join(TMP, "bench-e2e")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    daemon = ptuned_harness.Daemon(MODEL, os.path.join(scratch, "ptuned.db"), ["--threads", str(THREADS)], env=ENV)
    daemon.start(timeout=600)
    try:
        task, tar = adapter_tar(daemon, verbalizer, read_tsv(os.path.join(data, "train_0.tsv")))
        classify_all(daemon.port, task, texts[:CLIENTS])  # warm-up: pages, workspace
        seconds, labels = classify_all(daemon.port, task, texts)
    finally:
        daemon.stop()
    row = {"row": "e2e eprstmt", "texts": len(texts), "clients": CLIENTS, "threads": THREADS,
           "seconds": round(seconds, 2), "texts_per_s": round(len(texts) / seconds, 2)}
    if torch:
        names = list(verbalizer)
        cls, mask, sep, unused1 = vocab_ids(["[CLS]", "[MASK]", "[SEP]", "[unused1]"])
        vectors = prompt_vectors(tar)
        n_prompt = len(vectors)
        rows = [[cls, mask] + [unused1] * n_prompt + ids[:MAX_SEQ - 3 - n_prompt] + [sep] for ids in tokenize(texts)]
        job = {"rows": rows, "mask_pos": 1, "prompt_pos": list(range(2, 2 + n_prompt)), "prompt": vectors,
               "word_ids": vocab_ids([verbalizer[n][0] for n in names])}
        path = os.path.join(scratch, "e2e-job.json")
        with open(path, "w") as f:
            json.dump(job, f)
        theirs = run_json([TORCH_PYTHON, os.path.join(HERE, "torch_bert.py"), "--model", MODEL, "--e2e", path])
        agree = sum(names[t] == o for t, o in zip(theirs["labels"], labels)) / len(texts)
        row.update(torch_seconds=theirs["seconds"], torch_texts_per_s=theirs["texts_per_s"],
                   ratio=round(theirs["seconds"] / seconds, 3), label_agreement=round(agree, 4))
    else:
        row["ratio"] = None
    emit(row)
    return row


def main():
    ensure_model()
    torch = have_torch()
    emit({"bench": "ptune vs torch eager", "model": MODEL, "threads": THREADS, "rounds": ROUNDS, "iters": ITERS,
          "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "torch": torch and TORCH_PYTHON,
          "load_average": os.getloadavg()[0]})
    rates = [sgemm()]
    emit({"row": "sgemm 1024x3072x768", "threads": THREADS, "gflops": rates[0],
          "engine_gflops": ENGINE_GEMM[0] if ENGINE_GEMM else None})
    rows = {r["row"]: r for r in (grid_row(k, b, s, torch, rates) for k, b, s in GRID)}
    e2e = end_to_end(torch)
    sgemm_rate = median(rates)
    fwd8 = rows["infer 8x128"]
    rss = max(r["peak_rss_mb"] for r in rows.values() if not r["train"])
    targets = {name: {"ratio": rows[name]["ratio"], "want": want,
                      "met": None if rows[name]["ratio"] is None else rows[name]["ratio"] >= want}
               for name, want in TARGETS.items()}
    targets["sgemm fraction 8x128"] = {"gflops": fwd8["gflops"], "sgemm_gflops": sgemm_rate,
                                       "fraction": round(fwd8["gflops"] / sgemm_rate, 3), "want": SGEMM_FRACTION,
                                       "met": fwd8["gflops"] >= SGEMM_FRACTION * sgemm_rate}
    if e2e:
        targets["e2e eprstmt"] = {"ratio": e2e["ratio"], "want": E2E_RATIO,
                                  "met": None if e2e["ratio"] is None else e2e["ratio"] >= E2E_RATIO}
    budget = fwd8["weights_mb"] * (1 + RSS_SLACK)
    targets["peak rss inference"] = {"peak_rss_mb": rss, "budget_mb": round(budget, 1), "met": rss <= budget}
    if ENGINE_GEMM:
        targets["sgemm fraction 8x128"]["engine_gemm_gflops"] = median(ENGINE_GEMM)
    emit({"summary": targets, "sgemm_gflops_samples": rates, "engine_gemm_gflops_samples": ENGINE_GEMM,
          "load_average": os.getloadavg()[0],
          "all_met": all(t["met"] for t in targets.values())})


if __name__ == "__main__":
    main()
