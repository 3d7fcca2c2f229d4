#!/usr/bin/env python3
"""gen_models.py - builds tests/fixtures/models/<name>/: tiny random Llama checkpoints written by
Hugging Face transformers' save_pretrained, and transformers' own outputs on them as references
for the C forward pass (tests/test_forward.c).

Each model directory holds the checkpoint as transformers writes it (config.json,
generation_config.json, model.safetensors or sharded model-0000N-of-0000M.safetensors +
model.safetensors.index.json), the tiny tokenizer (tests/fixtures/tiny-tokenizer/tokenizer.json)
copied in, and the references:
  ref.json        {"prompts": [{"ids": [...], "logits_row": R, "greedy": [32 ids],
                    "min_margin": m}], "logits_file": "ref_logits.f32", "vocab_size": V, ...}
  ref_logits.f32  little-endian float32, for each prompt in order its len(ids) rows of V logits
                  (transformers' logits at every prompt position).
References are computed by loading the saved checkpoint back from disk with dtype=float32
(weights upcast exactly; fp32 arithmetic, as the C CPU backend) and eager attention; greedy
continuations come from model.generate(do_sample=False), 32 new tokens, no early stop on EOS.
min_margin is the smallest gap between the top two logits along the greedy path (a near tie
would make token identity a matter of rounding; the script refuses margins below 1e-3).

Models (vocab = the tiny tokenizer's 512 ids, bos 507, eos [508, 511]):
  gqa-bf16     bf16, untied, 4 q heads / 2 kv heads, hidden 64, 3 layers, FFN 128, theta 10000
  tied-f32     f32, tied embeddings, 4 heads / 4 kv heads, 2 layers
  sharded-f16  f16, sharded into several files, 4 q heads / 1 kv head, head_dim 32 != 64/4,
               config.json exactly as transformers 5 writes it ("rope_parameters", "dtype")
  llama3-bf16  bf16, llama3 rope scaling (factor 8, low 1, high 4, original max positions 64),
               rope_theta 500000; a prompt of ~100 tokens crosses position 64
Also hf-sampling.json: random logits rows and, for several (temperature, top_k, top_p), the tokens
Hugging Face's TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper keep and their
softmax probabilities (for tests/test_sampling.c); rows whose top-p boundary lies within 1e-4 of
a cumulative mass are redrawn so float32-vs-double rounding cannot decide membership.

The others get config.json rewritten in the published Llama 3.1 layout ("rope_theta" and
"rope_scaling" at top level, "torch_dtype"), which transformers reads back identically (checked).

Deterministic: fixed seeds, CPU torch. usage: python3 tests/gen/gen_models.py [--out DIR]
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
TOKENIZER = os.path.join(FIXTURES, "tiny-tokenizer", "tokenizer.json")
N_NEW = 32
BOS = 507

SHORT_TEXTS = [
    "Hello, how are you?",
    "Write a short story about a robot who learns to paint.",
    "What is the capital of France? Explain in one sentence.",
]
LONG_TEXT = ("Compose an engaging travel blog post about a recent trip to Hawaii, highlighting "
             "cultural experiences and must-see attractions. Then explain the difference between "
             "a list and a tuple in Python, with examples.")

MODELS = [
    dict(name="gqa-bf16", dtype=torch.bfloat16, seed=1, tied=False, heads=4, kv_heads=2,
         layers=3, head_dim=None, theta=10000.0, scaling=None, shard=None, legacy=True,
         texts=SHORT_TEXTS),
    dict(name="tied-f32", dtype=torch.float32, seed=2, tied=True, heads=4, kv_heads=4,
         layers=2, head_dim=None, theta=10000.0, scaling=None, shard=None, legacy=True,
         texts=SHORT_TEXTS[:2]),
    dict(name="sharded-f16", dtype=torch.float16, seed=3, tied=False, heads=4, kv_heads=1,
         layers=2, head_dim=32, theta=10000.0, scaling=None, shard="60KB", legacy=False,
         texts=SHORT_TEXTS[:2]),
    dict(name="llama3-bf16", dtype=torch.bfloat16, seed=4, tied=False, heads=4, kv_heads=2,
         layers=2, head_dim=None, theta=500000.0,
         scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=64),
         shard=None, legacy=True, texts=[SHORT_TEXTS[0], LONG_TEXT]),
]

DTYPE_NAME = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}


def encode(texts):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(TOKENIZER)
    out = []
    for t in texts:
        ids = tok.encode(t).ids  # the post-processor adds <|begin_of_text|>
        assert ids[0] == BOS, ids[:3]
        out.append(ids)
    return out


def make_config(spec, vocab):
    kw = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128,
              num_hidden_layers=spec["layers"], num_attention_heads=spec["heads"],
              num_key_value_heads=spec["kv_heads"], max_position_embeddings=256,
              rms_norm_eps=1e-5, tie_word_embeddings=spec["tied"], bos_token_id=BOS,
              eos_token_id=[508, 511], initializer_range=0.2)
    if spec["head_dim"]:
        kw["head_dim"] = spec["head_dim"]
    rope = dict(rope_type="default", rope_theta=spec["theta"])
    if spec["scaling"]:
        rope = dict(spec["scaling"], rope_theta=spec["theta"])
    kw["rope_parameters"] = rope
    return LlamaConfig(**kw)


def randomise(model, seed):
    """Weights with std 0.2 (not the default 0.02: logits must not be flat), norm weights
    1 + 0.2 * N(0, 1) so a wrong norm weight shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def legacy_config(path, dtype):
    """Rewrite config.json in the published Llama 3.1 layout."""
    with open(path) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    cfg.pop("dtype", None)
    cfg["torch_dtype"] = DTYPE_NAME[dtype]
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def reference(d, prompts):
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    gen = GenerationConfig(do_sample=False, max_new_tokens=N_NEW, eos_token_id=None,
                           pad_token_id=0, bos_token_id=BOS)
    rows, out = [], []
    row = 0
    for ids in prompts:
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0].float().numpy()
            seq = model.generate(x, attention_mask=torch.ones_like(x), generation_config=gen)
        cont = seq[0, len(ids):].tolist()
        assert len(cont) == N_NEW, (d, len(cont))
        # margins along the greedy path, from one full forward over prompt + continuation
        with torch.no_grad():
            full = model(seq).logits[0].float()
        top2 = torch.topk(full[len(ids) - 1:-1], 2, dim=-1).values
        margin = float((top2[:, 0] - top2[:, 1]).min())
        assert margin > 1e-3, (d, "near tie on the greedy path", margin)
        assert (full[len(ids) - 1:-1].argmax(-1).tolist() == cont), (d, "generate != argmax")
        rows.append(logits.astype("<f4"))
        out.append(dict(ids=ids, logits_row=row, greedy=cont, min_margin=round(margin, 6)))
        row += len(ids)
        print(f"  prompt {len(ids):3d} tokens: logits std {logits.std():.2f}, greedy {cont[:8]}..."
              f" ({len(set(cont))} distinct), min margin {margin:.4f}")
    return out, np.concatenate(rows, axis=0)


def build(spec, out_root, vocab, prompts):
    d = os.path.join(out_root, spec["name"])
    if os.path.isdir(d):
        shutil.rmtree(d)
    torch.manual_seed(spec["seed"])
    cfg = make_config(spec, vocab)
    model = LlamaForCausalLM(cfg)
    randomise(model, spec["seed"])
    model = model.to(spec["dtype"])
    kw = dict(max_shard_size=spec["shard"]) if spec["shard"] else {}
    model.save_pretrained(d, **kw)
    if spec["legacy"]:
        # the reference from the transformers-native config, then check the rewrite reads back equal
        native, _ = reference(d, prompts[:1])
        legacy_config(os.path.join(d, "config.json"), spec["dtype"])
        again, _ = reference(d, prompts[:1])
        assert native == again, (spec["name"], "legacy config.json reads back differently")
    shutil.copy(TOKENIZER, os.path.join(d, "tokenizer.json"))
    print(spec["name"])
    refs, logits = reference(d, prompts)
    logits.tofile(os.path.join(d, "ref_logits.f32"))
    with open(os.path.join(d, "ref.json"), "w") as f:
        meta = dict(vocab_size=vocab, n_new=N_NEW, logits_file="ref_logits.f32",
                    transformers_version=transformers.__version__, torch_version=torch.__version__)
        f.write(json.dumps(meta)[:-1] + ',\n "prompts": [\n')
        f.write(",\n".join("  " + json.dumps(r) for r in refs) + "\n]}\n")


SAMPLING_CONFIGS = [  # (temperature, top_k, top_p)
    (1.0, 0, 1.0), (0.7, 10, 1.0), (1.3, 0, 0.9), (0.8, 20, 0.8), (1.0, 0, 0.5), (0.5, 5, 0.95),
    (1.0, 1, 1.0), (2.0, 0, 0.3), (1.0, 3, 0.6),
]


def sampling_reference(path, vocab=64, n_rows=6, seed=11):
    from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                        TopPLogitsWarper)
    g = torch.Generator().manual_seed(seed)
    rows = []
    while len(rows) < n_rows:
        x = (2.0 * torch.randn(vocab, generator=g)).float()
        ok = True
        for t, k, p in SAMPLING_CONFIGS:
            z = (x / t).double()
            if k:
                z = torch.where(z < torch.topk(z, k).values[-1], -torch.inf, z)
            pr = torch.softmax(z, -1).sort(descending=True).values
            before = torch.cumsum(pr, 0) - pr
            ok &= p >= 1.0 or bool((before - p).abs().min() > 1e-4)
        if ok:
            rows.append(x)
    cases = []
    for t, k, p in SAMPLING_CONFIGS:
        for i, x in enumerate(rows):
            sc = TemperatureLogitsWarper(t)(None, x[None].clone())
            if k:
                sc = TopKLogitsWarper(k)(None, sc)
            if p < 1.0:
                sc = TopPLogitsWarper(p)(None, sc)
            kept = torch.nonzero(sc[0] > -torch.inf).flatten()
            prob = torch.softmax(sc[0].double(), -1)
            cases.append(dict(temperature=t, top_k=k, top_p=p, row=i, kept=kept.tolist(),
                              prob=[float(prob[j]) for j in kept]))
    with open(path, "w") as f:
        f.write(json.dumps(dict(vocab_size=vocab, transformers_version=transformers.__version__,
                                rows=[[float(v) for v in x] for x in rows]))[:-1])
        f.write(',\n "cases": [\n' + ",\n".join("  " + json.dumps(c) for c in cases) + "\n]}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(FIXTURES, "models"))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    with open(TOKENIZER) as f:
        tj = json.load(f)
    vocab = len(tj["model"]["vocab"]) + len(tj["added_tokens"])
    os.makedirs(args.out, exist_ok=True)
    for spec in MODELS:
        build(spec, args.out, vocab, encode(spec["texts"]))
    sampling_reference(os.path.join(args.out, "hf-sampling.json"))
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    print(f"total {total / 1e6:.2f} MB under {args.out}")


if __name__ == "__main__":
    main()
