"""PyTorch eager on the same weights as `ptune bench`, printing the same JSON line.

usage: /usr/bin/python3 bench/torch_bert.py --model DIR --batch B --seq T --iters N [--train]

The comparison the performance issue asks for: plain float32 PyTorch (no transformers), weights read
from the model directory by tests/reference/bert_ref.py, the same synthetic rows as `ptune bench`
(one mask at position 1; with --train 8 prompt vectors at positions 2..9 and the backward to them),
rows padded to the batch's longest (all rows have --seq tokens here), the MLM head at the masks only.
torch.set_num_threads(1): with OpenBLAS on 2 threads underneath that is torch's fastest here.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import bert_ref  # noqa: E402

N_PROMPT = 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--train", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg, w = bert_ref.load(a.model)
    w = {k: v.float().contiguous() for k, v in w.items()}
    B, T, H, A = a.batch, a.seq, cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps, V = H // A, cfg.get("layer_norm_eps", 1e-12), cfg["vocab_size"]
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (B, T), generator=gen)
    with_prompt = a.train and T >= N_PROMPT + 3
    prompt = torch.randn(B, N_PROMPT, H, generator=gen) * 0.02
    targets = torch.full((B,), 7, dtype=torch.long)

    def lin(x, p):
        return torch.nn.functional.linear(x, w[p + ".weight"], w[p + ".bias"])

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (H,), w[p + ".weight"], w[p + ".bias"], eps)

    def forward(vectors):
        x = w["embeddings.word_embeddings.weight"][ids]
        if vectors is not None:
            x = torch.cat([x[:, :2], vectors, x[:, 2 + N_PROMPT:]], dim=1)
        x = x + w["embeddings.position_embeddings.weight"][:T] + w["embeddings.token_type_embeddings.weight"][0]
        x = ln(x, "embeddings.LayerNorm")
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            heads = lambda t: t.view(B, T, A, d).transpose(1, 2)  # noqa: E731
            q = heads(lin(x, p + "attention.self.query"))
            k = heads(lin(x, p + "attention.self.key"))
            v = heads(lin(x, p + "attention.self.value"))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
            ctx = (probs @ v).transpose(1, 2).reshape(B, T, H)
            x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            inter = torch.nn.functional.gelu(lin(x, p + "intermediate.dense"))
            x = ln(lin(inter, p + "output.dense") + x, p + "output.LayerNorm")
        h = torch.nn.functional.gelu(lin(x[:, 1], "cls.predictions.transform.dense"))
        h = ln(h, "cls.predictions.transform.LayerNorm")
        return h @ w["cls.predictions.decoder.weight"].T + w["cls.predictions.bias"]

    def step():
        if not a.train:
            with torch.no_grad():
                forward(None)
            return
        vectors = prompt.clone().requires_grad_(True) if with_prompt else None
        loss = torch.nn.functional.cross_entropy(forward(vectors), targets, reduction="sum")
        if vectors is not None:
            torch.autograd.grad(loss, vectors)

    step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    ms = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    blas_threads = int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count()))
    print(json.dumps({"impl": "torch", "batch": B, "seq": T, "train": a.train, "threads": blas_threads,
                      "torch_threads": torch.get_num_threads(), "ms_per_batch": round(ms, 3),
                      "seq_per_s": round(B * 1e3 / ms, 3)}))


if __name__ == "__main__":
    main()
