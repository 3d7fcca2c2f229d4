#!/usr/bin/env python3
"""measure_accept.py - acceptance length (tokens per speculative iteration, greedy) of the default
pair with the full vocabulary and the FR-Spec lists, on a few benchmark prompts (Spec-Bench and
HumanEval as plain text, GSM8K test as chat turns), through `frspec generate --prompts --out`.

usage: measure_accept.py FRSPEC_BINARY [--n 3] [--max-new 96] [--depth D --size N] [--seed 7]
Prints a Markdown table: K, mean accepted tokens per iteration (all prompts pooled by iterations),
and per prompt set.
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import tempfile

DATA = "/work/shared/data/prompts"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("frspec")
    ap.add_argument("--n", type=int, default=3, help="prompts per set")
    ap.add_argument("--max-new", type=int, default=96)
    ap.add_argument("--depth", type=int, default=0)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ks", default="0,32768,16384,8192,4096,2048,1024", help="0 = full vocabulary")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    sb = [json.loads(x) for x in open(os.path.join(DATA, "spec_bench_question.jsonl"))]
    he = [json.loads(x) for x in gzip.open(os.path.join(DATA, "HumanEval.jsonl.gz"), "rt")]
    gs = [json.loads(x) for x in open(os.path.join(DATA, "gsm8k_test.jsonl"))]
    tmp = tempfile.mkdtemp()
    sets = {
        "spec-bench": ([{"id": "sb-%s" % q["question_id"], "prompt": q["turns"][0]} for q in rnd.sample(sb, a.n)], False),
        "humaneval": ([{"id": q["task_id"], "prompt": q["prompt"]} for q in rnd.sample(he, a.n)], False),
        "gsm8k-chat": ([{"id": "gsm-%d" % i, "prompt": q["question"]} for i, q in enumerate(rnd.sample(gs, a.n))], True),
    }
    rows = []
    for k in [int(x) for x in a.ks.split(",")]:
        per, it_all, tok_all = {}, 0, 0
        for name, (prompts, chat) in sets.items():
            pf, of = os.path.join(tmp, name + ".jsonl"), os.path.join(tmp, "%s-%d.out.jsonl" % (name, k))
            with open(pf, "w") as f:
                for p in prompts:
                    f.write(json.dumps(p) + "\n")
            cmd = [a.frspec, "generate", "--model", "configs/default/target", "--draft", "configs/default/draft",
                   "--prompts", pf, "--out", of, "--max-new-tokens", str(a.max_new), "--ignore-eos", "--quiet"]
            if chat:
                cmd.append("--chat")
            if k:
                cmd += ["--fr-vocab", "configs/default/fr/freq_%d.pt" % k]
            if a.depth:
                cmd += ["--tree-depth", str(a.depth)]
            if a.size:
                cmd += ["--tree-size", str(a.size)]
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            its = toks = 0
            for line in open(of):
                r = json.loads(line)
                its += r["iterations"]
                toks += r["mean_accepted"] * r["iterations"]
            per[name] = toks / its
            it_all += its
            tok_all += toks
        rows.append((k, tok_all / it_all, per))
        print("K=%s: %.2f %s" % (k or "full", tok_all / it_all, per), flush=True)
    print()
    print("| K | all | " + " | ".join(sets) + " |")
    print("|---|---|" + "---|" * len(sets))
    for k, m, per in rows:
        print("| %s | %.2f | %s |" % ("full (128256)" if not k else k, m, " | ".join("%.2f" % per[s] for s in sets)))


if __name__ == "__main__":
    main()
