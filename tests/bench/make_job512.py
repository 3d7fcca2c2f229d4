#!/usr/bin/env python3
"""make_job512.py - tests/bench/prompts/job512.jsonl: the 512-prompt batch job of issue 14's bench
(`frspec generate --prompts ... --batch N` on the default pair), text prompts from the benchmark
sets of shared/data/prompts: 200 Spec-Bench questions (first turn), 120 HumanEval prompts, 120
GSM8K test questions, 72 MT-Bench questions (first turn). Seeded sample; no tokenizer needed.
usage: python3 tests/bench/make_job512.py DATA_DIR > tests/bench/prompts/job512.jsonl
"""
import gzip
import json
import random
import sys

D = sys.argv[1].rstrip("/") + "/"
rnd = random.Random(20261206)
sb = [json.loads(line) for line in open(D + "spec_bench_question.jsonl")]
he = [json.loads(line) for line in gzip.open(D + "HumanEval.jsonl.gz", "rt")]
gs = [json.loads(line) for line in open(D + "gsm8k_test.jsonl")]
mt = [json.loads(line) for line in open(D + "mt_bench_question.jsonl")]
out = []
out += [(f"spec-bench-{q['question_id']}", q["turns"][0]) for q in rnd.sample(sb, 200)]
out += [(p["task_id"].replace("/", "-"), p["prompt"]) for p in rnd.sample(he, 120)]
out += [(f"gsm8k-{i}", gs[i]["question"]) for i in sorted(rnd.sample(range(len(gs)), 120))]
out += [(f"mt-bench-{q['question_id']}", q["turns"][0]) for q in rnd.sample(mt, 72)]
assert len(out) == 512 and len({i for i, _ in out}) == 512
for i, p in out:
    print(json.dumps({"id": i, "prompt": p}))
