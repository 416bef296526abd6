#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* from real inputs (python3 standard library).

Sources: a few short rows of the shared FewCLUE / comment_classify data ($PTUNE_SHARED/data), the
tokenizer fixture strings, models and exports made by bin/ptune (init-model, train) on the fuzz model,
the README's requests, and the corners of each format. Inputs that once found a bug are kept as
fuzz/corpus/<target>/crash-* and never touched here. Deterministic: the same sources give the same files.

usage: PTUNE_SHARED=../shared python3 fuzz/make-corpus.py [bin/ptune]
"""
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
PTUNE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bin", "ptune")
SHARED = os.environ.get("PTUNE_SHARED", os.path.join(ROOT, "..", "shared"))
FUZZ_MODEL = os.path.join(ROOT, "fuzz", "model")


def b(x):
    return x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass")


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))


def put(target, data):
    data = b(data)
    with open(os.path.join(CORPUS, target, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def shared_rows(n_per_file=4):
    """The shortest rows of each shared data file: real text, few bytes."""
    rows = []
    for sub, name in [("comment_classify", "train.txt"), ("comment_classify", "dev.txt"),
                      ("eprstmt", "train_0.tsv"), ("eprstmt", "dev_0.tsv")]:
        with open(os.path.join(SHARED, "data", sub, name), encoding="utf-8") as f:
            lines = [l for l in f.read().split("\n") if "\t" in l]
        rows += sorted(lines, key=lambda l: (len(l), l))[:n_per_file]
    return rows


def shared_file(sub, name):
    with open(os.path.join(SHARED, "data", sub, name), "rb") as f:
        return f.read()


def tricky_strings():
    with open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "tricky.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(l) for l in f if l.strip()]
    return [t for t in texts if len(b(t)) < 300][:24]


def tsv_corpus(rows):
    reset("tsv")
    put("tsv", "\n".join(rows) + "\n")
    put("tsv", "\ufeff" + "\r\n".join(rows[:4]))
    put("tsv", "\n\n" + rows[0] + "\n\r\n  \n" + rows[1] + "\t\tmore\ttabs\n")
    for bad in [b"label only\n", b"\ttext\n", b"pos\t\r\n", b"pos\tbad \xff utf-8\n", b"pos\tnul\x00\n",
                b"pos\tok\nneg\t\xe4\xb8\n", b"\xef\xbb\xbf", b"\r\n\r\n"]:
        put("tsv", bad)


def verbalizer_corpus():
    reset("verbalizer")
    put("verbalizer", shared_file("comment_classify", "verbalizer.txt"))
    put("verbalizer", shared_file("eprstmt", "verbalizer.tsv"))
    put("verbalizer", "正\t好, 很好 ,棒\n负\t差,不好\r\n")
    for bad in ["正\t好\n正\t差\n", "正\t好,,棒\n", "正\t , \n", "正\n", "\n\n"]:
        put("verbalizer", bad)


def tokenizer_corpus(rows):
    reset("tokenizer")
    for i, t in enumerate(tricky_strings()):
        put("tokenizer", bytes([i & 1]) + b(t))
    for i, r in enumerate(rows[:8]):
        put("tokenizer", bytes([i & 1]) + b(r.split("\t", 1)[1]))
    for bad in [b"\x01abc\xff", b"\x00\xe4\xb8", b"\x01\xed\xa0\x80x", b"\x00\xc0\xaf", b"\x01\xf4\x90\x80\x80",
                b"\x00a\x00b", b"\x01" + b("a" * 101 + " " + "\u00e9" * 60)]:
        put("tokenizer", b(bad))


def template_corpus(rows):
    reset("template")
    texts = [r.split("\t", 1)[1] for r in rows[:6]]
    templates = ["{mask}{prompt:8}{text}", "{prompt:3}{mask}{prompt:3}{text}{prompt:3}", "这是一条{mask}评论：{text}{prompt:4}",
                 "{text}{prompt:1}It was {mask}.", "{prompt:1024}{mask}{text}", "{mask}{text}", "{prompt:2}{text}",
                 "{mask}{prompt:0}{text}", "{mask}{prompt:x}{text}", "{mask}{text}{text}{prompt:1}", "{mask{prompt:1}{text}",
                 "{mask}{prompt:1}{text}{unknown}"]
    for i, t in enumerate(templates):
        put("template", bytes([(7 * i) % 128]) + b(t) + b"\n" + b(texts[i % len(texts)]))
    put("template", b"\x00{mask}{prompt:2}{text}\n" + b("很长的文本" * 40))
    put("template", b"\x05{mask}{prompt:2}{text}\nbad \xff")


def st_image(header, data=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def model_corpora(work, rows):
    reset("safetensors")
    reset("config")
    with open(os.path.join(work, "v.txt"), "w", encoding="utf-8") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n好\n很\n不\n")
    shapes = [("m1", ["--layers", "1", "--hidden", "4", "--heads", "2", "--intermediate", "8", "--max-pos", "8"]),
              ("m2", ["--layers", "1", "--hidden", "4", "--heads", "1", "--intermediate", "4", "--max-pos", "8",
                      "--dtype", "f16"]),
              ("m3", ["--layers", "2", "--hidden", "2", "--heads", "1", "--intermediate", "2", "--max-pos", "4",
                      "--dtype", "bf16", "--type-vocab", "1"])]
    for name, args in shapes:
        out = os.path.join(work, name)
        subprocess.run([PTUNE, "init-model", "--out", out, "--vocab", os.path.join(work, "v.txt"), "--seed", "1"] + args,
                       check=True, stdout=subprocess.DEVNULL)
        put("safetensors", open(os.path.join(out, "model.safetensors"), "rb").read())
        put("config", open(os.path.join(out, "config.json"), "rb").read())
    big = os.path.join(work, "big")
    subprocess.run([PTUNE, "init-model", "--out", big, "--layers", "2", "--hidden", "64", "--heads", "4",
                    "--intermediate", "128", "--cjk-vocab", "--seed", "4"], check=True, stdout=subprocess.DEVNULL)
    data = open(os.path.join(big, "model.safetensors"), "rb").read()
    put("safetensors", data[:8 + struct.unpack("<Q", data[:8])[0]])  # a bert-shaped header, data cut off
    put("config", open(os.path.join(big, "config.json"), "rb").read())
    put("safetensors", st_image({}))
    put("safetensors", st_image({"__metadata__": {"format": "pt"}}))
    put("safetensors", st_image({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, struct.pack("<f", 1.5)))
    put("safetensors", st_image({"e": {"dtype": "F16", "shape": [0, 3], "data_offsets": [0, 0]},
                                 "b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\x80\x3f\x00\xc0"))
    put("safetensors", st_image({"i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]},
                                 "u": {"dtype": "U8", "shape": [1] * 8, "data_offsets": [8, 9]}}, bytes(9)))
    # bert-base-chinese's published config.json, and the corners of the keys
    put("config", json.dumps({"architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1,
                              "directionality": "bidi", "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                              "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
                              "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
                              "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
                              "pooler_fc_size": 768, "pooler_num_attention_heads": 12, "pooler_num_fc_layers": 3,
                              "pooler_size_per_head": 128, "pooler_type": "first_token_transform",
                              "type_vocab_size": 2, "vocab_size": 21128}, indent=2))
    base = '"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "intermediate_size": 8, "max_position_embeddings": 8'
    put("config", '{%s, "num_attention_heads": 3}' % base)
    put("config", '{%s, "num_attention_heads": 2, "hidden_act": "gelu_new", "layer_norm_eps": 1e-5, '
                  '"position_embedding_type": "relative_key"}' % base)
    put("config", '{"vocab_size": 8.0, "hidden_size": 1e10, "num_hidden_layers": -1}')


def tokenizer_config_corpus():
    reset("tokenizer-config")
    for s in ['{"do_lower_case": false}', '{"do_lower_case": true}', "{}", '{"do_lower_case": "yes"}', "[true]",
              '{"do_lower_case": null}',
              '{"do_lower_case": false, "model_max_length": 512, "tokenize_chinese_chars": true, "strip_accents": null, '
              '"tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", '
              '"cls_token": "[CLS]", "mask_token": "[MASK]"}']:
        put("tokenizer-config", s)


def task_config_corpus():
    reset("task-config")
    readme = {"name": "sentiment", "train_dataset": 1, "epochs": 12, "lr": 0.01, "verbalizer": {"正": ["好"], "负": ["差"]}}
    put("task-config", json.dumps(readme, ensure_ascii=False))
    put("task-config", json.dumps({"name": "inline", "train_tsv": "正\t很好\n负\t很差\n", "dev_tsv": "正\t好\n"},
                                  ensure_ascii=False))
    full = {"template": "{prompt:3}{mask}{prompt:3}{text}{prompt:3}", "verbalizer": {"正": ["好", "很好"], "负": ["差"]},
            "encoder": "lstm", "encoder_hidden": 16, "init": "很好", "loss": "vocab", "epochs": 3, "batch_size": 4,
            "lr": 0.001, "betas": [0.9, 0.999], "weight_decay": 0.01, "warmup": 0.06, "max_grad_norm": 1.0,
            "max_seq_len": 64, "patience": 2, "seed": 7}
    put("task-config", json.dumps(full, ensure_ascii=False))
    put("task-config", json.dumps({"encoder": "mlp", "init": "random", "template": "评论{mask}：{text}{prompt:4}"},
                                  ensure_ascii=False))
    for bad in ['{"epochs": 0}', '{"epochs": 10001}', '{"lr": -1}', '{"betas": [0.9]}', '{"encoder": "gru"}',
                '{"verbalizer": {"正": []}}', '{"verbalizer": {"": ["好"]}}', '{"unknown": 1}', '{"max_seq_len": 129}',
                '{"seed": -1}', '{"template": "{mask}{text}"}', '{"init": ""}', '[1]']:
        put("task-config", bad)


def multipart_corpus(rows):
    reset("multipart")
    tsv = "\n".join(rows[:3]) + "\n"
    for boundary, ctype in [("------------------------d74496d66958873e", None), ("x", None),
                            ("quoted boundary", 'multipart/form-data; boundary="quoted boundary"')]:
        ctype = ctype or "multipart/form-data; boundary=" + boundary
        body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"train.tsv\"\r\n"
                "Content-Type: text/tab-separated-values\r\n\r\n%s\r\n"
                "--%s\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nreviews\r\n--%s--\r\n"
                % (boundary, tsv, boundary, boundary))
        put("multipart", ctype + "\n" + body)
    put("multipart", "multipart/form-data; charset=utf-8; boundary=b\n--b\r\nContent-Disposition: form-data; "
                     "name=\"file\"\r\n\r\n\r\n--b--")
    for bad in ["multipart/form-data\n--b\r\n", "multipart/form-data; boundary=b\n--b\r\nno headers",
                "multipart/form-data; boundary=b\nno delimiter at all", "multipart/form-data; boundary=\"open\n"]:
        put("multipart", bad)


def tar_of(files, prefix=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        if prefix:
            info = tarfile.TarInfo(prefix.rstrip("/"))
            info.type = tarfile.DIRTYPE
            t.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def adapter_corpus(work):
    reset("adapter-import")
    train = os.path.join(ROOT, "examples", "reviews.tsv")
    configs = [{"epochs": 1, "template": "{mask}{prompt:4}{text}", "max_seq_len": 32},
               {"epochs": 1, "encoder": "mlp", "encoder_hidden": 8, "template": "{prompt:2}{mask}{prompt:2}{text}{prompt:1}",
                "verbalizer": {"正": ["好", "很好"], "负": ["差"]}},
               {"epochs": 1, "encoder": "lstm", "init": "random", "loss": "vocab", "template": "评论{mask}：{text}{prompt:3}"}]
    names = ["adapter_model.safetensors", "adapter_config.json", "ptune.json"]
    for i, cfg in enumerate(configs):
        path, out = os.path.join(work, "cfg%d.json" % i), os.path.join(work, "export%d" % i)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False)
        subprocess.run([PTUNE, "train", "--model", FUZZ_MODEL, "--train", train, "--config", path, "--out", out],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files = [(n, open(os.path.join(out, n), "rb").read()) for n in names]
        put("adapter-import", tar_of(files))
        if i == 0:
            put("adapter-import", tar_of(files, prefix="./"))  # what `tar -C dir -cf x.tar .` makes
            put("adapter-import", tar_of(files[:2]))
            doc = json.loads(files[2][1])
            doc["backbone"]["fingerprint"] = "0" * 64
            put("adapter-import", tar_of(files[:2] + [("ptune.json", json.dumps(doc).encode())]))
    put("adapter-import", bytes(1024))


def main():
    if not os.path.isdir(os.path.join(SHARED, "data")):
        sys.exit("make-corpus: no shared data at %s (set PTUNE_SHARED)" % SHARED)
    rows = shared_rows()
    work = tempfile.mkdtemp(prefix="ptune-corpus-")
    try:
        tsv_corpus(rows)
        verbalizer_corpus()
        tokenizer_corpus(rows)
        template_corpus(rows)
        model_corpora(work, rows)
        tokenizer_config_corpus()
        task_config_corpus()
        multipart_corpus(rows)
        adapter_corpus(work)
    finally:
        shutil.rmtree(work)
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print("%-18s %3d files %7d bytes" % (t, len(files), size))


if __name__ == "__main__":
    main()
