#!/usr/bin/env python3
"""gen_loader_fixtures.py - builds tests/fixtures/loader/: tiny Llama checkpoints written by
Hugging Face transformers' save_pretrained, real published Llama 3.x config files, and what
transformers / torch read back from them, as references for the C loader tests
(tests/test_config.c, tests/test_safetensors.c, tests/test_model_load.c).

Checkpoints (hidden 64, 2 layers, 4 q heads, 2 kv heads, random weights, fixed seeds):
  bf16-untied   bf16, separate lm_head, vocab = the tiny tokenizer's size (512), FFN 32
  f32-tied      f32, tie_word_embeddings, vocab 64, FFN 32
  f16-sharded   f16, untied, vocab 256, FFN 32, save_pretrained(max_shard_size) -> 3 shards
                + model.safetensors.index.json
  llama3-eos    bf16, tied, head_dim 32 (!= 64/4), llama3 rope scaling, rope_theta 500000,
                eos_token_id a list, generation_config.json with sampling settings
Sizes are kept small (each < 220 KB, all ~700 KB); transformers 5 writes config.json with "rope_parameters"
and "dtype", the layout the C parser must also accept.

configs/<name>/config.json (+ generation_config.json): the published config files of
meta-llama Llama-3-8B-Instruct, Llama-3.1-8B-Instruct, Llama-3.2-1B-Instruct,
Llama-3.3-70B-Instruct and yuhuili/EAGLE-LLaMA3-Instruct-8B (Llama 3.x Community License;
reproduced field for field, values only), in the published layout ("rope_theta",
"rope_scaling", "torch_dtype").

expected/<name>.json: the reference values, all computed here by transformers / torch:
  "config":     fields as transformers' LlamaConfig.from_pretrained reads them
  "generation": GenerationConfig.from_pretrained (top_k 0 when the file has none: our default)
  "tensors":    {name: {dtype, shape, file, sum, abs_sum, samples: [[flat_index, value], ...]}}
                read back with safetensors' own reader, values converted to float64
  "tp":         {"2": [rank 0, rank 1]}: per view {rows, cols, sum, first, last} of the
                tensor-parallel slices model.h defines (torch narrow on the full tensors)

Deterministic. usage: python3 tests/gen/gen_loader_fixtures.py [--out DIR]
"""
import argparse
import glob
import json
import os
import shutil

import torch
from safetensors import safe_open
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
TOKENIZER = os.path.join(FIXTURES, "tiny-tokenizer", "tokenizer.json")


def tokenizer_vocab():
    if not os.path.exists(TOKENIZER):
        return 512
    tok = json.load(open(TOKENIZER))
    ids = set(tok["model"]["vocab"].values()) | {a["id"] for a in tok.get("added_tokens", [])}
    return max(ids) + 1


CHECKPOINTS = [
    dict(name="bf16-untied", dtype=torch.bfloat16, seed=11, vocab=tokenizer_vocab(), ffn=32,
         tied=False, head_dim=None, rope=None, theta=10000.0, eos=2, bos=1, shard=None, gen=None),
    dict(name="f32-tied", dtype=torch.float32, seed=12, vocab=64, ffn=32, tied=True,
         head_dim=None, rope=None, theta=10000.0, eos=2, bos=1, shard=None, gen=None),
    dict(name="f16-sharded", dtype=torch.float16, seed=13, vocab=256, ffn=32, tied=False,
         head_dim=None, rope=None, theta=10000.0, eos=2, bos=1, shard="50KB", gen=None),
    dict(name="llama3-eos", dtype=torch.bfloat16, seed=14, vocab=256, ffn=32, tied=True,
         head_dim=32, theta=500000.0, eos=[253, 254, 255], bos=250, shard=None,
         rope={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 128},
         gen={"do_sample": True, "temperature": 0.6, "top_p": 0.9, "top_k": 40}),
]

# Published config.json / generation_config.json files (values as on the Hugging Face Hub).
REAL_CONFIGS = {
    "llama3-8b-instruct": (
        {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
         "bos_token_id": 128000, "eos_token_id": 128009, "hidden_act": "silu", "hidden_size": 4096,
         "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
         "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
         "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0", "use_cache": True,
         "vocab_size": 128256},
        {"bos_token_id": 128000, "eos_token_id": [128001, 128009], "do_sample": True,
         "temperature": 0.6, "max_length": 4096, "top_p": 0.9,
         "transformers_version": "4.40.0.dev0"}),
    "llama3.1-8b-instruct": (
        {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
         "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
         "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
         "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
         "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
         "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256},
        {"bos_token_id": 128000, "do_sample": True, "eos_token_id": [128001, 128008, 128009],
         "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.42.3"}),
    "llama3.2-1b-instruct": (
        {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
         "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64,
         "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
         "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16,
         "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
         "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256},
        {"bos_token_id": 128000, "do_sample": True, "eos_token_id": [128001, 128008, 128009],
         "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.45.0.dev0"}),
    "llama3.3-70b-instruct": (
        {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
         "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 128,
         "hidden_act": "silu", "hidden_size": 8192, "initializer_range": 0.02,
         "intermediate_size": 28672, "max_position_embeddings": 131072, "mlp_bias": False,
         "model_type": "llama", "num_attention_heads": 64, "num_hidden_layers": 80,
         "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
         "transformers_version": "4.47.0.dev0", "use_cache": True, "vocab_size": 128256},
        {"bos_token_id": 128000, "do_sample": True, "eos_token_id": [128001, 128008, 128009],
         "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.47.0.dev0"}),
    "eagle-llama3-8b": (
        {"architectures": ["LlamaForCausalLM"], "bias": False, "bos_token_id": 128000,
         "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
         "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 1,
         "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
         "torch_dtype": "float16", "transformers_version": "4.28.1", "use_cache": True,
         "vocab_size": 128256},
        None),
}

DTYPE_NAME = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}


def config_expect(d):
    """Fields as transformers reads them back from directory d."""
    c = LlamaConfig.from_pretrained(d)
    raw = json.load(open(os.path.join(d, "config.json")))
    rp = dict(c.rope_parameters or {})
    rtype = rp.get("rope_type", "default")
    eos = c.eos_token_id
    eos = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
    out = dict(
        hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
        vocab_size=c.vocab_size, max_position_embeddings=c.max_position_embeddings,
        rms_norm_eps=c.rms_norm_eps, rope_theta=rp.get("rope_theta"), rope_type=rtype,
        tie_word_embeddings=bool(c.tie_word_embeddings),
        bos_token_id=-1 if c.bos_token_id is None else c.bos_token_id, eos_token_ids=eos,
        torch_dtype=DTYPE_NAME[c.dtype] if c.dtype is not None else "F32",
        bias=bool(raw.get("bias", False)))
    if rtype == "llama3":
        out.update(rope_factor=rp["factor"], rope_low_freq_factor=rp["low_freq_factor"],
                   rope_high_freq_factor=rp["high_freq_factor"],
                   rope_original_max_position_embeddings=rp["original_max_position_embeddings"])
    return out


def generation_expect(d):
    path = os.path.join(d, "generation_config.json")
    if not os.path.exists(path):
        return dict(present=False)
    raw = json.load(open(path))
    g = GenerationConfig.from_pretrained(d)
    eos = g.eos_token_id
    eos = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
    return dict(present=True, do_sample=bool(g.do_sample),
                temperature=float(g.temperature if g.temperature is not None else 1.0),
                top_p=float(g.top_p if g.top_p is not None else 1.0),
                top_k=int(g.top_k) if "top_k" in raw else 0, eos_token_ids=eos)


def tensors_expect(d):
    """Every tensor read back with safetensors' own reader."""
    out, full = {}, {}
    gen = torch.Generator().manual_seed(7)
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        with safe_open(f, "pt") as sf:
            for name in sf.keys():
                t = sf.get_tensor(name)
                v = t.double().flatten()
                n = v.numel()
                idx = sorted({0, n - 1} | set(torch.randint(0, n, (3,), generator=gen).tolist()))
                out[name] = dict(dtype=DTYPE_NAME[t.dtype], shape=list(t.shape),
                                 file=os.path.basename(f), sum=v.sum().item(),
                                 abs_sum=v.abs().sum().item(),
                                 samples=[[i, v[i].item()] for i in idx])
                full[name] = t.double()
    return out, full


def view_expect(t):
    t = t if t.dim() == 2 else t.reshape(1, -1)
    return dict(rows=t.shape[0], cols=t.shape[1], sum=t.sum().item() if t.numel() else 0.0,
                first=t[0, 0].item() if t.numel() else 0.0,
                last=t[-1, -1].item() if t.numel() else 0.0)


def tp_expect(cfg, full, tp):
    """The views of model.h for each rank, by torch narrow on the full tensors."""
    H, KV, F, V = (cfg["num_attention_heads"], cfg["num_key_value_heads"],
                   cfg["intermediate_size"], cfg["vocab_size"])
    D = cfg["head_dim"]
    Hl, KVl, Fl = H // tp, KV // tp, F // tp
    per = (V + tp - 1) // tp
    embed = full["model.embed_tokens.weight"]
    lm_full = embed if cfg["tie_word_embeddings"] else full["lm_head.weight"]
    ranks = []
    for r in range(tp):
        off = min(per * r, V)
        cnt = min(per, V - off)
        views = {"embed": view_expect(embed), "lm_head_full": view_expect(lm_full),
                 "lm_head": dict(view_expect(lm_full.narrow(0, off, cnt)), offset=off),
                 "final_norm": view_expect(full["model.norm.weight"])}
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            views[f"layers.{i}.attn_norm"] = view_expect(full[p + "input_layernorm.weight"])
            views[f"layers.{i}.mlp_norm"] = view_expect(full[p + "post_attention_layernorm.weight"])
            views[f"layers.{i}.wq"] = view_expect(full[p + "self_attn.q_proj.weight"].narrow(0, r * Hl * D, Hl * D))
            views[f"layers.{i}.wk"] = view_expect(full[p + "self_attn.k_proj.weight"].narrow(0, r * KVl * D, KVl * D))
            views[f"layers.{i}.wv"] = view_expect(full[p + "self_attn.v_proj.weight"].narrow(0, r * KVl * D, KVl * D))
            views[f"layers.{i}.wo"] = view_expect(full[p + "self_attn.o_proj.weight"].narrow(1, r * Hl * D, Hl * D))
            views[f"layers.{i}.w_gate"] = view_expect(full[p + "mlp.gate_proj.weight"].narrow(0, r * Fl, Fl))
            views[f"layers.{i}.w_up"] = view_expect(full[p + "mlp.up_proj.weight"].narrow(0, r * Fl, Fl))
            views[f"layers.{i}.w_down"] = view_expect(full[p + "mlp.down_proj.weight"].narrow(1, r * Fl, Fl))
        ranks.append(dict(rank=r, n_heads_local=Hl, n_kv_heads_local=KVl, ffn_local=Fl,
                          vocab_offset=off, vocab_local=cnt, views=views))
    return ranks


def build_checkpoint(spec, out):
    d = os.path.join(out, spec["name"])
    shutil.rmtree(d, ignore_errors=True)
    torch.manual_seed(spec["seed"])
    kw = dict(hidden_size=64, intermediate_size=spec["ffn"], num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, vocab_size=spec["vocab"],
              max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=spec["theta"],
              tie_word_embeddings=spec["tied"], bos_token_id=spec["bos"],
              eos_token_id=spec["eos"], initializer_range=0.2)
    if spec["head_dim"]:
        kw["head_dim"] = spec["head_dim"]
    if spec["rope"]:
        kw["rope_scaling"] = dict(spec["rope"])
    cfg = LlamaConfig(**kw)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # norms away from 1 so that a wrong tensor cannot look right
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    model = model.to(spec["dtype"])
    if spec["gen"]:
        model.generation_config = GenerationConfig(bos_token_id=spec["bos"],
                                                   eos_token_id=spec["eos"], **spec["gen"])
    kw = dict(max_shard_size=spec["shard"]) if spec["shard"] else {}
    model.save_pretrained(d, **kw)
    shards = glob.glob(os.path.join(d, "*.safetensors"))
    if spec["shard"]:
        assert 2 <= len(shards) <= 3, f"{spec['name']}: {len(shards)} shards"
        assert os.path.exists(os.path.join(d, "model.safetensors.index.json"))
    size = sum(os.path.getsize(f) for f in shards)
    assert size < 220_000, f"{spec['name']}: {size} bytes"
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(FIXTURES, "loader"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)

    for spec in CHECKPOINTS:
        d = build_checkpoint(spec, out)
        cfg = config_expect(d)
        tensors, full = tensors_expect(d)
        exp = dict(config=cfg, generation=generation_expect(d), tensors=tensors,
                   files=sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "*.safetensors"))),
                   tp={str(tp): tp_expect(cfg, full, tp) for tp in (1, 2)})
        with open(os.path.join(out, "expected", spec["name"] + ".json"), "w") as f:
            json.dump(exp, f, separators=(",", ":"), sort_keys=True)
        print(spec["name"], len(tensors), "tensors,", exp["files"])

    for name, (cfg, gen) in REAL_CONFIGS.items():
        d = os.path.join(out, "configs", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        if gen:
            with open(os.path.join(d, "generation_config.json"), "w") as f:
                json.dump(gen, f, indent=2)
        exp = dict(config=config_expect(d), generation=generation_expect(d))
        with open(os.path.join(out, "expected", "config-" + name + ".json"), "w") as f:
            json.dump(exp, f, separators=(",", ":"), sort_keys=True)
        print(name, exp["config"]["rope_type"], exp["config"]["head_dim"])


if __name__ == "__main__":
    main()
