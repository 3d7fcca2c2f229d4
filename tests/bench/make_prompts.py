#!/usr/bin/env python3
"""make_prompts.py - tests/bench/prompts/heldout_ids.jsonl: the held-out prompt set of `frspec bench
acceptance`, as token ids (so no tokenizer is needed where it runs): 8 Spec-Bench questions and 8
HumanEval prompts as plain text (BOS + text), 8 GSM8K *test* questions in the Llama-3 chat template
(the default pair was trained on GSM8K train only). Seeded sample; Llama 3.1 tokenizer.
usage: python3 tests/bench/make_prompts.py [DATA_DIR] [TOKENIZER_JSON]
"""
import gzip
import json
import random
import sys

from tokenizers import Tokenizer

D = (sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/prompts") + "/"
tok = Tokenizer.from_file(sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data/llama3.1-tokenizer/tokenizer.json")
rnd = random.Random(20261126)
sb = [json.loads(line) for line in open(D + "spec_bench_question.jsonl")]
he = [json.loads(line) for line in gzip.open(D + "HumanEval.jsonl.gz", "rt")]
gs = [json.loads(line) for line in open(D + "gsm8k_test.jsonl")]


def plain(t):
    return tok.encode(t, add_special_tokens=True).ids


def chat(t):
    s = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + t.strip() +
         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    return tok.encode(s, add_special_tokens=False).ids


out = []
for q in rnd.sample(sb, 8):
    out.append({"id": "spec-bench-%s" % q["question_id"], "set": "spec-bench", "template": "plain",
                "prompt_ids": plain(q["turns"][0])})
for q in rnd.sample(he, 8):
    out.append({"id": q["task_id"], "set": "humaneval", "template": "plain", "prompt_ids": plain(q["prompt"])})
for i, q in enumerate(rnd.sample(gs, 8)):
    out.append({"id": "gsm8k-test-%d" % i, "set": "gsm8k-test", "template": "llama3-chat",
                "prompt_ids": chat(q["question"])})
with open("tests/bench/prompts/heldout_ids.jsonl", "w") as f:
    for o in out:
        f.write(json.dumps(o) + "\n")
print(len(out), "prompts")
