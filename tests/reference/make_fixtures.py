"""Writes the engine's reference fixtures: small random BERT masked-LMs in the Hugging Face layout
(config.json, vocab.txt, model.safetensors written here with struct + json) and debug-mlm requests
with the float64 PyTorch answers next to them.

usage: /usr/bin/python3 make_fixtures.py OUT_DIR

OUT_DIR/<model>/cases/<case>.request.json is exactly what `ptune debug mlm` reads on stdin;
<case>.expected.json holds "logits" (and "loss", "prompt_grad" when the request has targets).
Everything is seeded: running it twice writes the same files.
"""
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402

# The shapes the engine must handle: a 3-layer tied model with the usual names and extra tensors a
# real checkpoint carries; an untied one with gamma/beta names and no "bert." prefix; one stored as
# F16; a single-layer BF16 one (its only layer is also the last, which the engine runs for the
# mask rows alone).
MODELS = [
    dict(name="l3-h48-tied", layers=3, hidden=48, heads=6, inter=96, vocab=300, max_pos=40, dtype="F32",
         prefix="bert.", ln=("weight", "bias"), tied=True, extras=True, eps=1e-12, std=0.15, seed=11),
    dict(name="l2-h32-gamma-untied", layers=2, hidden=32, heads=4, inter=64, vocab=200, max_pos=24, dtype="F32",
         prefix="", ln=("gamma", "beta"), tied=False, extras=False, eps=1e-5, std=0.2, seed=12),
    dict(name="l2-h40-f16", layers=2, hidden=40, heads=5, inter=80, vocab=250, max_pos=32, dtype="F16",
         prefix="bert.", ln=("weight", "bias"), tied=True, extras=False, eps=1e-12, std=0.15, seed=13),
    dict(name="l1-h16-bf16", layers=1, hidden=16, heads=2, inter=32, vocab=120, max_pos=20, dtype="BF16",
         prefix="bert.", ln=("weight", "bias"), tied=True, extras=False, eps=1e-12, std=0.2, seed=14),
]

SPECIALS = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 21)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNUSED1, UNK, CLS, SEP, MASK = 0, 1, 21, 22, 23, 24


def vocab_tokens(n):
    toks = SPECIALS + [chr(c) for c in range(33, 127)] + ["##" + chr(c) for c in range(97, 123)]
    toks += [chr(0x4E00 + i) for i in range(n)]  # CJK ideographs, as many as needed
    return toks[:n]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    # BF16: round to nearest even from the f32 bits (values are finite and small)
    out = bytearray()
    for v in values:
        (bits,) = struct.unpack("<I", struct.pack("<f", v))
        bits += 0x7FFF + ((bits >> 16) & 1)
        out += struct.pack("<H", (bits >> 16) & 0xFFFF)
    return bytes(out)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_model(spec, out):
    rng = random.Random(spec["seed"])
    H, I, V, P, std = spec["hidden"], spec["inter"], spec["vocab"], spec["max_pos"], spec["std"]
    gamma, beta = spec["ln"]
    tensors = []

    def add(name, shape, kind="normal"):
        n = 1
        for s in shape:
            n *= s
        if kind == "gamma":  # LayerNorm scales near 1, so they matter but do not blow up
            vals = [f32(1.0 + rng.gauss(0, 0.2)) for _ in range(n)]
        else:
            vals = [f32(rng.gauss(0, std)) for _ in range(n)]
        tensors.append((spec["prefix"] + name, spec["dtype"], shape, encode(vals, spec["dtype"])))

    def add_ln(name):
        add(f"{name}.LayerNorm.{gamma}", [H], "gamma")
        add(f"{name}.LayerNorm.{beta}", [H])

    add("embeddings.word_embeddings.weight", [V, H])
    add("embeddings.position_embeddings.weight", [P, H])
    add("embeddings.token_type_embeddings.weight", [2, H])
    add_ln("embeddings")
    for i in range(spec["layers"]):
        p = f"encoder.layer.{i}."
        for lin, shape in (("attention.self.query", [H, H]), ("attention.self.key", [H, H]),
                           ("attention.self.value", [H, H]), ("attention.output.dense", [H, H]),
                           ("intermediate.dense", [I, H]), ("output.dense", [H, I])):
            add(p + lin + ".weight", shape)
            add(p + lin + ".bias", shape[:1])
        add_ln(p + "attention.output")
        add_ln(p + "output")
    # The MLM head never carries the "bert." prefix.
    prefix, spec["prefix"] = spec["prefix"], ""
    add("cls.predictions.transform.dense.weight", [H, H])
    add("cls.predictions.transform.dense.bias", [H])
    add_ln("cls.predictions.transform")
    add("cls.predictions.bias", [V])
    if not spec["tied"]:
        add("cls.predictions.decoder.weight", [V, H])
    if spec["extras"]:
        add("cls.seq_relationship.weight", [2, H])
        add("cls.seq_relationship.bias", [2])
        spec["prefix"] = prefix
        add("pooler.dense.weight", [H, H])
        add("pooler.dense.bias", [H])
        tensors.append((prefix + "embeddings.position_ids", "I64", [1, P], struct.pack(f"<{P}q", *range(P))))
    spec["prefix"] = prefix

    os.makedirs(out, exist_ok=True)
    write_safetensors(f"{out}/model.safetensors", tensors)
    with open(f"{out}/vocab.txt", "w") as f:
        f.write("".join(t + "\n" for t in vocab_tokens(V)))
    cfg = {"architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
           "hidden_dropout_prob": 0.1, "hidden_size": H, "initializer_range": std, "intermediate_size": I,
           "layer_norm_eps": spec["eps"], "max_position_embeddings": P, "model_type": "bert",
           "num_attention_heads": spec["heads"], "num_hidden_layers": spec["layers"], "pad_token_id": 0,
           "type_vocab_size": 2, "vocab_size": V}
    with open(f"{out}/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def make_row(rng, spec, length, n_prompt, n_mask, with_targets):
    """One input row: [CLS] text [SEP] text [SEP], prompt slots on [unusedN], [MASK] at most mask positions."""
    V, H = spec["vocab"], spec["hidden"]
    ids = [CLS] + [rng.randrange(MASK + 1, V) for _ in range(length - 2)] + [SEP]
    split = rng.randrange(1, length - 1) if length > 3 else length - 1
    ids[split] = SEP
    types = [0] * (split + 1) + [1] * (length - split - 1)
    free = list(range(length))
    rng.shuffle(free)
    prompt_pos, mask_pos = sorted(free[:n_prompt]), free[n_prompt:n_prompt + n_mask]
    for j, p in enumerate(prompt_pos):
        ids[p] = UNUSED1 + j % 20
    for j, p in enumerate(mask_pos):
        if j % 3 != 2:  # most masks sit on [MASK]; some read the logits of an ordinary token
            ids[p] = MASK
    vectors = [[f32(rng.gauss(0, spec["std"] * 2)) for _ in range(H)] for _ in prompt_pos]
    targets = [rng.randrange(V) for _ in mask_pos] if with_targets else None
    return dict(ids=ids, types=types, prompt_pos=prompt_pos, vectors=vectors, mask_pos=mask_pos, targets=targets)


def make_request(rows, with_types=True, with_prompt=True):
    req = {"input_ids": [r["ids"] for r in rows]}
    if with_types:
        req["token_type_ids"] = [r["types"] for r in rows]
    if with_prompt:
        req["prompt"] = {"positions": [r["prompt_pos"] for r in rows], "vectors": [r["vectors"] for r in rows]}
    req["mask_positions"] = [r["mask_pos"] for r in rows]
    if rows[0]["targets"] is not None:
        req["targets"] = [r["targets"] for r in rows]
    return req


def cases(spec):
    """(name, request) pairs: several row lengths, mask counts, prompt placements, with and without targets."""
    rng = random.Random(spec["seed"] * 1000)
    P = spec["max_pos"]
    batch = [make_row(rng, spec, n, 0, m, False) for n, m in ((5, 1), (P // 2 + 1, 3), (9, 2), (P - 3, 1))]
    yield "batch-no-prompt", make_request(batch, with_prompt=False)
    train = [make_row(rng, spec, n, k, m, True) for n, k, m in ((12, 4, 2), (7, 2, 1), (P // 2, 6, 4), (10, 3, 0))]
    yield "prompt-targets", make_request(train)
    yield "one-row-full-length", make_request([make_row(rng, spec, P, 8, 3, True)])
    plain = [make_row(rng, spec, n, k, m, False) for n, k, m in ((6, 3, 2), (14, 1, 1))]
    yield "prompt-no-types-no-targets", make_request(plain, with_types=False)
    scored = [make_row(rng, spec, n, 0, m, True) for n, m in ((8, 2), (3, 1))]
    yield "targets-no-prompt", make_request(scored, with_prompt=False)


def rounded(x):
    return float(f"{x:.9g}")


def expected(cfg, w, req):
    logits, loss, grads = bert_ref.forward(cfg, w, req)
    out = {"logits": [[[rounded(v) for v in pos] for pos in row.tolist()] for row in logits]}
    if loss is not None:
        out["loss"] = rounded(loss.item())
    if grads is not None:
        out["prompt_grad"] = [[[rounded(v) for v in vec] for vec in g.tolist()] for g in grads]
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUT_DIR")
    for spec in MODELS:
        out = os.path.join(sys.argv[1], spec["name"])
        make_model(dict(spec), out)
        cfg, w = bert_ref.load(out)
        os.makedirs(f"{out}/cases", exist_ok=True)
        for name, req in cases(spec):
            with open(f"{out}/cases/{name}.request.json", "w") as f:
                json.dump(req, f, separators=(",", ":"))
                f.write("\n")
            with open(f"{out}/cases/{name}.expected.json", "w") as f:
                json.dump(expected(cfg, w, req), f, separators=(",", ":"))
                f.write("\n")
        print(f"{out}: {spec['layers']} layers, hidden {spec['hidden']}, {spec['dtype']}")


if __name__ == "__main__":
    main()
