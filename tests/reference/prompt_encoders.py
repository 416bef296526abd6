"""PyTorch (float64) reference for the prompt encoders of core/prompt.c: forward output and the
gradients of L = sum(out * R) for every parameter, written in core/prompt.c's flat parameter order.

    /usr/bin/python3 tests/reference/prompt_encoders.py > tests/fixtures/prompt_encoders.json

The modules are PyTorch's own (nn.Linear, nn.LSTM), shaped as HF PEFT's MLP encoder and the paper's
LSTM encoder, so the C code is checked against an implementation it shares nothing with.
"""
import json

import torch
from torch import nn

N, H, HIDDEN = 5, 8, 6
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def lin_params(l):
    return [l.weight, l.bias]


def case(kind):
    emb = nn.Parameter(torch.randn(N, H))
    if kind == "mlp":
        layers = [nn.Linear(H, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, H)]
        out = layers[2](torch.relu(layers[1](torch.relu(layers[0](emb)))))
        params = [emb] + [p for l in layers for p in lin_params(l)]
    else:
        lstm = nn.LSTM(H, H // 2, num_layers=2, bidirectional=True, batch_first=True)
        head = [nn.Linear(H, H), nn.Linear(H, H)]
        y, _ = lstm(emb.unsqueeze(0))
        out = head[1](torch.relu(head[0](y[0])))
        params = [emb]
        for layer in range(2):
            for suffix in ("", "_reverse"):
                params += [getattr(lstm, f"{n}_l{layer}{suffix}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        params += [p for l in head for p in lin_params(l)]
    r = torch.randn(N, H)
    (out * r).sum().backward()
    flat = lambda ts: [float(v) for t in ts for v in t.detach().reshape(-1)]
    return {"kind": kind, "n": N, "h": H, "hidden": HIDDEN, "params": flat(params),
            "r": flat([r]), "out": flat([out]), "grads": flat([p.grad for p in params])}


print(json.dumps({"generator": "tests/reference/prompt_encoders.py", "torch": torch.__version__,
                  "cases": [case("mlp"), case("lstm")]}))
