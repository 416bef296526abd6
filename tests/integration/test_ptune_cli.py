"""`ptune train / classify / eval` end to end on generated models: the three export files and their
formats, one progress line per epoch off a terminal, classify output (plain and --jsonl), eval metrics,
unknown dev labels counted, a prompt refused on another backbone, and errors that name the line or the
config key. With $PTUNE_SHARED, comment_classify trains end to end (its dev set has labels the task
does not know). Standard library only.
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys

BIN = os.environ.get("PTUNE_BIN")
TMP = os.environ.get("PTUNE_TMP")
SHARED = os.environ.get("PTUNE_SHARED")
if not BIN or not TMP:
    print("test_ptune_cli: skipped: PTUNE_BIN and PTUNE_TMP are not set (run through make test)")
    sys.exit(77)

failures = []
work = os.path.join(TMP, "test-ptune-cli-%d" % os.getpid())
os.makedirs(work, exist_ok=True)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, stdin=""):
    p = subprocess.run([BIN] + list(args), input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def path(name):
    return os.path.join(work, name)


def write(name, text, mode="w"):
    with open(path(name), mode, encoding="utf-8", newline="") as f:
        f.write(text)
    return path(name)


def model(name, seed):
    rc, out, err = run("init-model", "--out", path(name), "--layers", "2", "--hidden", "32", "--heads", "2",
                       "--intermediate", "64", "--cjk-vocab", "--seed", str(seed), "--std", "0.15")
    assert rc == 0, err
    return path(name)


def synthetic(n, seed, extra=()):
    r = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x9FA6) if chr(c) not in "好差"]
    rows = []
    for i in range(n):
        pos = i % 2 == 0
        t = [r.choice(chars) for _ in range(r.randint(5, 20))]
        t.insert(r.randint(0, len(t)), "好" if pos else "差")
        rows.append(("正" if pos else "负") + "\t" + "".join(t))
    return list(rows) + list(extra)


m1, m2 = model("m1", 1), model("m2", 2)
train = write("train.tsv", "\n".join(synthetic(64, 1)) + "\n")
# the dev file: BOM, CRLF, a blank line, no final newline, and two rows of a label the task lacks
dev_rows = synthetic(30, 2, ["中\t不好不坏", "中\t一般"])
dev = write("dev.tsv", "\ufeff" + "\r\n".join(dev_rows[:10]) + "\r\n\r\n" + "\r\n".join(dev_rows[10:]))
cfg = write("cfg.json", json.dumps({"epochs": 3, "lr": 0.03, "template": "{mask}{prompt:6}{text}"}))
out = path("out")

rc, so, se = run("train", "--model", m1, "--train", train, "--dev", dev, "--config", cfg, "--out", out)
check(rc == 0, "train exits 0: " + se)
lines = [l for l in se.splitlines() if l.startswith("epoch ")]
check(len(lines) == 3 and lines[0].startswith("epoch 1/3 step 8/24 loss "), "one plain line per epoch: %r" % se)
check("dev_macro_f1" in lines[0] and "\r" not in se, "epoch lines carry dev metrics, no bar off a tty")
check("2 dev rows have a label the task does not know" in se, "unknown dev labels reported: %r" % se)
summary = json.loads(so)
check(summary["labels"] == ["正", "负"], "labels sorted from the training data")
check(summary["dev"]["unknown_labels"] == 2 and summary["dev"]["n"] == 30, "dev rows counted: %r" % summary["dev"])
check(summary["train_rows"] == 64 and summary["dev_rows"] == 32, "row counts")

# adapter_model.safetensors: exactly one F32 [6, 32] tensor, metadata {"format": "pt"}
with open(os.path.join(out, "adapter_model.safetensors"), "rb") as f:
    blob = f.read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
check(header.get("__metadata__") == {"format": "pt"}, "safetensors metadata")
tensors = {k: v for k, v in header.items() if k != "__metadata__"}
check(list(tensors) == ["prompt_embeddings"], "exactly one tensor prompt_embeddings")
t = tensors["prompt_embeddings"]
check(t["dtype"] == "F32" and t["shape"] == [6, 32] and t["data_offsets"] == [0, 6 * 32 * 4], "tensor F32 [6, 32]")
check(len(blob) == 8 + n + 6 * 32 * 4, "file size")

with open(os.path.join(out, "adapter_config.json")) as f:
    peft = json.load(f)
for k in ("peft_type", "task_type", "num_virtual_tokens", "token_dim", "encoder_reparameterization_type",
          "encoder_hidden_size", "num_transformer_submodules", "num_layers", "num_attention_heads", "inference_mode",
          "base_model_name_or_path"):
    check(k in peft, "adapter_config.json has " + k)
check(peft["peft_type"] == "P_TUNING" and peft["num_virtual_tokens"] == 6 and peft["token_dim"] == 32, "peft values")

with open(os.path.join(out, "ptune.json")) as f:
    pt = json.load(f)
rc, info, _ = run("info", "--model", m1)
check(pt["backbone"]["fingerprint"] == json.loads(info)["fingerprint"], "ptune.json records the fingerprint")
check(pt["template"] == "{mask}{prompt:6}{text}" and pt["labels"] == ["正", "负"], "template and labels")
check(pt["verbalizer"] == {"正": ["正"], "负": ["负"]}, "default verbalizer: each label is its word")
check(pt["config"]["epochs"] == 3 and pt["config"]["lr"] == 0.03, "config")
check(len(pt["training_curve"]) == 3 and pt["metrics"]["unknown_labels"] == 2, "curve and metrics")

# classify: one JSON line per input line, probabilities over the labels
texts = [r.split("\t")[1] for r in synthetic(10, 3)]
rc, so, se = run("classify", "--model", m1, "--prompt", out, stdin="\n".join(texts) + "\n")
check(rc == 0, "classify exits 0: " + se)
outs = [json.loads(l) for l in so.splitlines()]
check(len(outs) == 10, "one output line per text")
for o in outs:
    check(abs(sum(o["scores"].values()) - 1) < 1e-5, "scores sum to 1")
    check(o["label"] == max(o["scores"], key=o["scores"].get) and o["score"] == o["scores"][o["label"]], "argmax")
rc, so2, _ = run("classify", "--model", m1, "--prompt", out, "--jsonl",
                 stdin=json.dumps(texts[0]) + "\n" + json.dumps({"text": texts[1]}) + "\n")
check(rc == 0 and [json.loads(l) for l in so2.splitlines()] == outs[:2], "--jsonl gives the same answers")
rc, _, se = run("classify", "--model", m1, "--prompt", out, "--jsonl", stdin='"ok"\n{"txt": 1}\n')
check(rc == 1 and "line 2: expected a JSON string or {\"text\"" in se, "bad --jsonl line named: " + se)

# eval
rc, so, se = run("eval", "--model", m1, "--prompt", out, "--data", dev)
check(rc == 0, "eval exits 0: " + se)
ev = json.loads(so)
check(ev["n"] == 30 and ev["unknown_labels"] == 2, "eval counts")
check(abs(ev["accuracy"] - pt["metrics"]["accuracy"]) < 1e-12, "eval of the kept prompt = its dev metrics")
check(len(ev["confusion"]) == 2 and sum(map(sum, ev["confusion"])) == 30, "confusion matrix")

# another backbone is refused
rc, _, se = run("classify", "--model", m2, "--prompt", out, stdin="好\n")
check(rc == 1 and "only works with the backbone it was trained on" in se, "foreign backbone refused: " + se)

# errors name the line or the key
bad = write("bad.tsv", "正\t好\n负\t差\nno tab here\n")
rc, _, se = run("train", "--model", m1, "--train", bad, "--out", path("x"))
check(rc == 1 and se.strip() == "ptune train: %s: line 3: expected label<TAB>text, found no tab" % bad, se)
badcfg = write("badcfg.json", '{"lrr": 1}')
rc, _, se = run("train", "--model", m1, "--train", train, "--config", badcfg, "--out", path("x"))
check(rc == 1 and 'config key "lrr": unknown key' in se, se)
verb = write("verb.tsv", "负\t差,不好\n正\t好\n")
rc, so, se = run("train", "--model", m1, "--train", train, "--verbalizer", verb, "--config", cfg, "--out", path("v"))
check(rc == 0 and json.loads(so)["labels"] == ["负", "正"], "--verbalizer sets the labels in file order: " + se)
with open(os.path.join(path("v"), "ptune.json")) as f:
    check(json.load(f)["verbalizer"] == {"负": ["差", "不好"], "正": ["好"]}, "verbalizer exported")
onlyneg = write("verb1.tsv", "负\t差\n中\t中\n")
rc, _, se = run("train", "--model", m1, "--train", train, "--verbalizer", onlyneg, "--out", path("x"))
check(rc == 1 and 'training line 1: label "正" is not in the verbalizer' in se, se)
rc, _, se = run("train", "--model", m1, "--train", train)
check(rc == 2 and "--out are required" in se, "usage error exits 2")
check(not os.path.exists(path("x")), "nothing written on failure")

# the blog's data set, end to end (1 epoch, tiny model): dev labels the verbalizer lacks are counted
if SHARED and os.path.isdir(os.path.join(SHARED, "data/comment_classify")):
    d = os.path.join(SHARED, "data/comment_classify")
    c1 = write("c1.json", json.dumps({"epochs": 1, "batch_size": 16}))
    rc, so, se = run("train", "--model", m1, "--train", os.path.join(d, "train.txt"), "--dev",
                     os.path.join(d, "dev.txt"), "--verbalizer", os.path.join(d, "verbalizer.txt"), "--config", c1,
                     "--out", path("cc"))
    check(rc == 0, "comment_classify trains: " + se)
    s = json.loads(so)
    check(len(s["labels"]) == 9 and s["dev"]["unknown_labels"] == 2 and s["dev"]["n"] == 415, "comment_classify dev")
else:
    print("test_ptune_cli: comment_classify part skipped: $PTUNE_SHARED/data/comment_classify is absent")

shutil.rmtree(work)
print("test_ptune_cli: %d failures" % len(failures))
sys.exit(1 if failures else 0)
