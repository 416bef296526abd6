"""The README's curl walk-through (section "HTTP API"), run verbatim against a real daemon: upload, create
task, poll, classify, export, import — then every step's effect is checked through the API."""
import io
import json
import os
import re
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptuned_harness import Daemon, check, env_or_skip, make_model, scratch  # noqa: E402


def walkthrough(readme):
    section = readme.split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```sh\n(.*?)```", section, re.S)
    check(m, "no ```sh block in the README's HTTP API section")
    return m.group(1)


def main():
    env = env_or_skip()
    if subprocess.run(["sh", "-c", "command -v curl"], capture_output=True).returncode != 0:
        print("skipped: curl is not installed")
        return 77
    with open(os.path.join(env["PTUNE_SRC"], "README.md"), encoding="utf-8") as f:
        script = walkthrough(f.read())
    work = scratch("walkthrough")
    model = make_model(os.path.join(work, "model"))
    os.symlink(os.path.join(env["PTUNE_SRC"], "examples"), os.path.join(work, "examples"))
    d = Daemon(model, os.path.join(work, "ptuned.db")).start()
    try:
        p = subprocess.run(["sh", "-e", "-c", script], cwd=work, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PTUNED="http://127.0.0.1:%d" % d.port))
        check(p.returncode == 0, "walk-through failed (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
        outputs = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        # upload, create task, classify, import: four JSON answers in order
        check(len(outputs) == 4, "expected 4 JSON answers, got %r" % p.stdout)
        upload, task, classify, imported = outputs
        check(upload["id"] == 1 and upload["rows"] == 40 and upload["labels"] == {"正": 20, "负": 20}, upload)
        check(task["id"] == 1 and task["status"] in ("queued", "running"), task)
        check(task["config"]["epochs"] == 20 and task["config"]["verbalizer"] == {"正": ["好"], "负": ["差"]}, task)
        check(classify["task"] == 1 and len(classify["results"]) == 2, classify)
        for res in classify["results"]:
            check(res["label"] in ("正", "负") and len(res["top"]) == 2, res)
            check(abs(sum(t["score"] for t in res["top"]) - 1) < 1e-5, res)
            check(res["top"][0]["label"] == res["label"] and res["top"][0]["score"] >= res["top"][1]["score"], res)
        check(imported["status"] == "succeeded" and imported["name"] == "sentiment-copy", imported)
        with tarfile.open(os.path.join(work, "sentiment.tar")) as t:
            check(sorted(t.getnames()) == ["adapter_config.json", "adapter_model.safetensors", "ptune.json"],
                  t.getnames())
        trained = d.request("GET", "/tasks/1").json()
        check(trained["status"] == "succeeded" and trained["progress"]["epoch"] == 20, trained)
        check(len(trained["curve"]) == 20, trained["curve"])
        # The imported copy classifies exactly as the original.
        texts = ["质量很好，值得购买", "太差了，不推荐", "一般般"]
        a = d.json("POST", "/classify", {"task": 1, "texts": texts}).json()["results"]
        b = d.json("POST", "/classify", {"task": imported["id"], "texts": texts}).json()["results"]
        check(a == b, (a, b))
        # The walk-through data is learnable: the training rows come back with their labels.
        rows = [line.split("\t") for line in open(os.path.join(env["PTUNE_SRC"], "examples", "reviews.tsv"),
                                                   encoding="utf-8").read().splitlines()]
        got = d.json("POST", "/classify", {"task": "sentiment", "texts": [r[1] for r in rows]}).json()["results"]
        right = sum(g["label"] == r[0] for g, r in zip(got, rows))
        print("walk-through: training rows classified right: %d/%d" % (right, len(rows)))
        check(right >= 0.8 * len(rows), "only %d/%d training rows right" % (right, len(rows)))
        check(d.stop() == 0, "daemon did not exit 0:\n" + d.log()[-2000:])
    finally:
        d.stop()
    print("walk-through: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
