#!/usr/bin/env python3
"""gen_fp8_default_ref.py - the reference for "no accuracy surprise" on the embedded model pair
(issue 15): configs/default/target quantized as `frspec quantize` does (compressed-tensors'
calculate_qparams + quantize on the fp32-upcast weights, per channel, lm_head ignored: the same
bytes, checked by test_fp8 on gqa-bf16), dequantized (e4m3 value times scale, fp32), and run by
transformers in fp32: greedy continuations (32 tokens, no EOS stop) of a few prompts tokenized with
the target's own tokenizer.json. Prompts whose greedy path has a near tie (top-2 margin <= 1e-3)
are left out. Writes tests/fixtures/fp8/default-pair.json, read by test_fp8.

usage: python3 tests/gen/gen_fp8_default_ref.py
"""
import json
import os
import sys
import tempfile

import torch
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_fp8_fixtures as g  # noqa: E402  (ct_quantize, dequant, write_model, greedy_reference)

ROOT = os.path.join(HERE, "..", "..")
TARGET = os.path.join(ROOT, "configs", "default", "target")
OUT = os.path.join(HERE, "..", "fixtures", "fp8", "default-pair.json")
TEXTS = ["The history of the Roman Empire", "def fibonacci(n):", "Once upon a time, in a small village,",
         "The capital of France is", "Speculative decoding works by"]


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    tok = Tokenizer.from_file(os.path.join(TARGET, "tokenizer.json"))
    prompts = [tok.encode(t).ids for t in TEXTS]
    t, _ = g.load_dir(TARGET)
    deq, n_q = {}, 0
    for k, v in t.items():
        if g.LINEAR.match(k) and not k.startswith("lm_head"):
            q, s = g.ct_quantize(v, "channel")
            deq[k] = g.dequant(q, s)
            n_q += 1
        else:
            deq[k] = v
    with tempfile.TemporaryDirectory() as tmp:
        g.write_model(tmp, TARGET, {k: v.float().contiguous() for k, v in deq.items()}, None, None)
        cfg = json.load(open(os.path.join(tmp, "config.json")))
        cfg["torch_dtype"] = "float32"
        json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"))
        refs, _ = g.greedy_reference(tmp, prompts)
    with open(OUT, "w") as f:
        meta = dict(source="configs/default/target quantized per channel (lm_head ignored), dequantized, transformers fp32",
                    quantized_matrices=n_q, torch_version=torch.__version__,
                    compressed_tensors_version=g.compressed_tensors.__version__)
        f.write(json.dumps(meta)[:-1] + ',\n "prompts": [\n')
        f.write(",\n".join("  " + json.dumps({k: r[k] for k in ("ids", "greedy", "min_margin")}) for r in refs))
        f.write("\n]}\n")
    print(f"wrote {OUT}: {len(refs)} prompts")


if __name__ == "__main__":
    main()
