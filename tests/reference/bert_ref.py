"""A BERT masked-LM in plain PyTorch (no transformers), the independent reference for core/bert.c.

It reads a Hugging Face model directory (config.json + model.safetensors, parsed here with struct and
json) and evaluates the stored weights in float64: rows padded to the longest with an additive -inf
attention mask (the engine packs rows instead), prompt vectors replacing word embeddings, logits at
the mask positions, the summed cross-entropy of the targets and its autograd gradient with respect
to the prompt vectors.
"""
import json
import math
import struct

import torch

TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in TORCH_DTYPES:
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=TORCH_DTYPES[info["dtype"]]) if raw else torch.zeros(0)
        tensors[name] = t.float().double().reshape(info["shape"])
    return tensors


def load(model_dir):
    """Returns (config dict, weights keyed by canonical names: no 'bert.' prefix, LayerNorm weight/bias)."""
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    w = {}
    for name, t in read_safetensors(f"{model_dir}/model.safetensors").items():
        name = name[5:] if name.startswith("bert.") else name
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        w[name] = t
    w.setdefault("cls.predictions.decoder.weight", w["embeddings.word_embeddings.weight"])
    return cfg, w


def _layer_norm(x, w, prefix, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], w[prefix + ".weight"], w[prefix + ".bias"], eps)


def _linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def forward(cfg, w, request):
    """Evaluates one debug-mlm request. Returns (logits per row: list of [n_mask, V] tensors,
    loss or None, prompt_grad per row or None), all float64."""
    ids = request["input_ids"]
    n_rows, L = len(ids), max(len(r) for r in ids)
    H, A, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg.get("layer_norm_eps", 1e-12)
    types = request.get("token_type_ids") or [[0] * len(r) for r in ids]
    pad = lambda rows: torch.tensor([r + [0] * (L - len(r)) for r in rows], dtype=torch.long)
    id_t, type_t = pad(ids), pad(types)
    valid = torch.tensor([[1] * len(r) + [0] * (L - len(r)) for r in ids], dtype=torch.bool)

    word = w["embeddings.word_embeddings.weight"][id_t].clone()
    prompt = request.get("prompt")
    leaves = []
    if prompt:
        for r in range(n_rows):
            vec = torch.tensor(prompt["vectors"][r], dtype=torch.float64).reshape(-1, H).requires_grad_(True)
            leaves.append(vec)
            for j, p in enumerate(prompt["positions"][r]):
                word[r, p] = vec[j]
    x = word + w["embeddings.position_embeddings.weight"][:L] + w["embeddings.token_type_embeddings.weight"][type_t]
    x = _layer_norm(x, w, "embeddings.LayerNorm", eps)

    d = H // A
    key_mask = torch.zeros(n_rows, 1, 1, L, dtype=torch.float64).masked_fill(~valid[:, None, None, :], -math.inf)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        heads = lambda t: t.reshape(n_rows, L, A, d).transpose(1, 2)
        q = heads(_linear(x, w, p + "attention.self.query"))
        k = heads(_linear(x, w, p + "attention.self.key"))
        v = heads(_linear(x, w, p + "attention.self.value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + key_mask, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(n_rows, L, H)
        x = _layer_norm(_linear(ctx, w, p + "attention.output.dense") + x, w, p + "attention.output.LayerNorm", eps)
        inter = torch.nn.functional.gelu(_linear(x, w, p + "intermediate.dense"))
        x = _layer_norm(_linear(inter, w, p + "output.dense") + x, w, p + "output.LayerNorm", eps)

    logits = []
    for r in range(n_rows):
        h = x[r, request["mask_positions"][r]]
        h = torch.nn.functional.gelu(_linear(h, w, "cls.predictions.transform.dense"))
        h = _layer_norm(h, w, "cls.predictions.transform.LayerNorm", eps)
        logits.append(h @ w["cls.predictions.decoder.weight"].T + w["cls.predictions.bias"])

    loss = grads = None
    if "targets" in request:
        loss = sum(-torch.log_softmax(logits[r], dim=-1)[j, t].sum()
                   for r in range(n_rows) for j, t in enumerate(request["targets"][r]))
        loss = torch.as_tensor(loss, dtype=torch.float64)
        if leaves and loss.requires_grad:
            grads = list(torch.autograd.grad(loss, leaves, allow_unused=True))
            grads = [g if g is not None else torch.zeros_like(v) for g, v in zip(grads, leaves)]
        elif leaves:
            grads = [torch.zeros_like(v) for v in leaves]
    return [t.detach() for t in logits], loss, grads
