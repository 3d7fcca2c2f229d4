#!/usr/bin/env python3
"""check_hf.py - the default target through Hugging Face transformers against frspec: greedy
continuations of a few prompts, transformers (fp32 on the CPU, from the committed bf16 weights)
against `frspec generate` autoregressive and speculative (EAGLE-2 head, full vocabulary and FR-Spec
K = 2048) on the CPU backend and on the CUDA backend when --cuda is given. Prints one line per
prompt and mode and exits 1 when a CPU-backend continuation differs from transformers'.
usage (repo root; needs torch + transformers + tokenizers):
    python3 configs/default/recipe/check_hf.py FRSPEC_BINARY [--cuda] [--n 40]
"""
import argparse
import json
import subprocess
import sys

import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

PROMPTS = ["The history of the English language", "PostgreSQL is a", "In mathematics, a prime number is",
           "Once upon a time"]
M = "configs/default/target"


def frspec(binary, ids, n, device, extra):
    cmd = [binary, "generate", "--model", M, "--prompt-ids", ",".join(map(str, ids)), "--max-new-tokens", str(n),
           "--ignore-eos", "--json", "--quiet", "--device", device] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["tokens"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("frspec")
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    tok = Tokenizer.from_file(M + "/tokenizer.json")
    model = LlamaForCausalLM.from_pretrained(M, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None   # like --ignore-eos
    model.generation_config.pad_token_id = 0
    modes = {"ar": ["--no-draft"], "eagle2-full": ["--draft", "configs/default/draft"],
             "fr-2048": ["--draft", "configs/default/draft", "--fr-vocab", "configs/default/fr/freq_2048.pt"]}
    bad = 0
    for p in PROMPTS:
        ids = tok.encode(p, add_special_tokens=True).ids
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=a.n, min_new_tokens=a.n,
                                 do_sample=False)
        ref = out[0, len(ids):].tolist()
        for dev in ["cpu"] + (["cuda"] if a.cuda else []):
            for name, extra in modes.items():
                got = frspec(a.frspec, ids, a.n, dev, extra)
                same = got == ref
                first = next((i for i, (x, y) in enumerate(zip(got, ref)) if x != y), None)
                print("%-40r %-4s %-12s %s%s" % (p, dev, name, "identical" if same else "DIFFERS",
                                                  "" if same else " from token %s" % first))
                if dev == "cpu" and not same:
                    bad += 1
        print("  transformers: %r" % tok.decode(ref))
    print("check_hf: %d CPU-backend continuation(s) differ from transformers" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
