"""PyTorch eager on the same weights as `ptune bench`, printing the same JSON line.

usage: /usr/bin/python3 bench/torch_bert.py --model DIR --batch B --seq T --iters N [--train]
       /usr/bin/python3 bench/torch_bert.py --model DIR --e2e FILE.json

The comparison the performance issue asks for: plain float32 PyTorch (no transformers), weights read
from the model directory by tests/reference/bert_ref.py, the same synthetic rows as `ptune bench`
(one mask at position 1; with --train 8 prompt vectors at positions 2..9 and the backward to them),
the MLM head at the masks only. torch.set_num_threads(1): with OpenBLAS on 2 threads underneath
(OPENBLAS_NUM_THREADS, set by bench/run.py) that is torch's fastest here.

--e2e is the loop a PyTorch user would write to classify a file: FILE holds the token ids of every
row ([CLS] [MASK] prompt... text [SEP], built by bench/run.py), the prompt vectors and positions, and
the token id of each label word; rows go in batches of 32 padded to 128 tokens with an additive -inf
attention mask, the label is the argmax over the label words' logits at the mask. The tokenizer is
not timed (it ran beforehand), which only flatters torch.
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
E2E_BATCH, E2E_PAD = 32, 128


class Bert:
    def __init__(self, model_dir):
        cfg, w = bert_ref.load(model_dir)
        self.w = {k: v.float().contiguous() for k, v in w.items()}
        self.cfg = cfg
        self.H, self.A = cfg["hidden_size"], cfg["num_attention_heads"]
        self.d, self.eps, self.V = self.H // self.A, cfg.get("layer_norm_eps", 1e-12), cfg["vocab_size"]

    def lin(self, x, p):
        return torch.nn.functional.linear(x, self.w[p + ".weight"], self.w[p + ".bias"])

    def ln(self, x, p):
        return torch.nn.functional.layer_norm(x, (self.H,), self.w[p + ".weight"], self.w[p + ".bias"], self.eps)

    def forward(self, ids, mask_pos, prompt_pos=None, vectors=None, pad_mask=None):
        """ids [B,T]; vectors [B,len(prompt_pos),H] replace the word embeddings at prompt_pos;
        pad_mask [B,T] bool (True = real token) or None; logits [B,V] at mask_pos (one per row)."""
        w, H, A, d = self.w, self.H, self.A, self.d
        B, T = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids]
        if vectors is not None:
            x = x.clone()
            x[:, prompt_pos] = vectors
        x = x + w["embeddings.position_embeddings.weight"][:T] + w["embeddings.token_type_embeddings.weight"][0]
        x = self.ln(x, "embeddings.LayerNorm")
        bias = None
        if pad_mask is not None:
            bias = torch.zeros(B, 1, 1, T).masked_fill(~pad_mask[:, None, None, :], float("-inf"))
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            heads = lambda t: t.view(B, T, A, d).transpose(1, 2)  # noqa: E731
            q = heads(self.lin(x, p + "attention.self.query"))
            k = heads(self.lin(x, p + "attention.self.key"))
            v = heads(self.lin(x, p + "attention.self.value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d)
            if bias is not None:
                scores = scores + bias
            ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
            x = self.ln(self.lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            inter = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(inter, p + "output.dense") + x, p + "output.LayerNorm")
        h = torch.nn.functional.gelu(self.lin(x[torch.arange(B), mask_pos], "cls.predictions.transform.dense"))
        h = self.ln(h, "cls.predictions.transform.LayerNorm")
        return h @ w["cls.predictions.decoder.weight"].T + w["cls.predictions.bias"]


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def blas_threads():
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count()))


def synthetic(bert, a):
    B, T = a.batch, a.seq
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, bert.V, (B, T), generator=gen)
    with_prompt = a.train and T >= N_PROMPT + 3
    prompt = torch.randn(B, N_PROMPT, bert.H, generator=gen) * 0.02
    prompt_pos = list(range(2, 2 + N_PROMPT))
    mask_pos = torch.ones(B, dtype=torch.long)
    targets = torch.full((B,), 7, dtype=torch.long)

    def step():
        if not a.train:
            with torch.no_grad():
                bert.forward(ids, mask_pos)
            return
        vectors = prompt.clone().requires_grad_(True) if with_prompt else None
        logits = bert.forward(ids, mask_pos, prompt_pos if with_prompt else None, vectors)
        loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
        if vectors is not None:
            torch.autograd.grad(loss, vectors)

    step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = median(times)
    print(json.dumps({"impl": "torch", "batch": B, "seq": T, "train": a.train, "threads": blas_threads(),
                      "torch_threads": torch.get_num_threads(), "ms_per_batch": round(ms, 3),
                      "seq_per_s": round(B * 1e3 / ms, 3)}))


def e2e(bert, path):
    with open(path) as f:
        job = json.load(f)
    rows, prompt_pos, words = job["rows"], job["prompt_pos"], job["word_ids"]
    vectors = torch.tensor(job["prompt"], dtype=torch.float32)
    labels = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for at in range(0, len(rows), E2E_BATCH):
            chunk = rows[at:at + E2E_BATCH]
            ids = torch.zeros(len(chunk), E2E_PAD, dtype=torch.long)
            pad_mask = torch.zeros(len(chunk), E2E_PAD, dtype=torch.bool)
            for r, row in enumerate(chunk):
                ids[r, :len(row)] = torch.tensor(row)
                pad_mask[r, :len(row)] = True
            mask_pos = torch.full((len(chunk),), job["mask_pos"], dtype=torch.long)
            logits = bert.forward(ids, mask_pos, prompt_pos, vectors.expand(len(chunk), -1, -1), pad_mask)
            labels += logits[:, words].argmax(dim=1).tolist()
    seconds = time.perf_counter() - t0
    print(json.dumps({"impl": "torch", "e2e": True, "texts": len(rows), "threads": blas_threads(),
                      "torch_threads": torch.get_num_threads(), "seconds": round(seconds, 3),
                      "texts_per_s": round(len(rows) / seconds, 3), "labels": labels}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--e2e", metavar="FILE")
    a = ap.parse_args()
    torch.set_num_threads(1)
    bert = Bert(a.model)
    if a.e2e:
        e2e(bert, a.e2e)
    else:
        synthetic(bert, a)


if __name__ == "__main__":
    main()
