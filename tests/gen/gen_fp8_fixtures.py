#!/usr/bin/env python3
"""gen_fp8_fixtures.py - builds the FP8 checkpoints of tests/fixtures/models/fp8-*/ and the
bit-exact quantization references of tests/fixtures/fp8/, from the float fixtures of
tests/gen/gen_models.py, with the Python tooling of each format.

compressed-tensors (pip `compressed-tensors`, version recorded in each ref.json): scales from its
calculate_qparams, F8_E4M3 weights from its quantize() with a symmetric float8 QuantizationArgs,
the quantization_config from its QuantizationConfig.model_dump(); files written with
safetensors.torch.save_file (what its ModelCompressor writes: `X.weight` float8_e4m3fn,
`X.weight_scale`, optional `X.input_scale`). fbgemm_fp8: fbgemm-gpu's quantize_fp8_per_row needs
a GPU, so its layout is written by hand exactly as transformers' FbgemmFp8Linear holds it
(weight float8_e4m3fn [out, in], weight_scale float32 [out, 1] = row amax / 448) with the
config transformers' FbgemmFp8Config writes (quant_method, activation_scale_ub,
modules_to_not_convert).

  models/fp8-ct-channel   from gqa-bf16: per-channel BF16 scales, dynamic per-token
                          activations ("FP8-dynamic"), lm_head ignored
  models/fp8-ct-static    from llama3-bf16: per-tensor F32 scales [1], static per-tensor
                          input_scale (calibrated on the prompts), lm_head quantized too
  models/fp8-fbgemm       from sharded-f16 (sharded, head_dim 32): fbgemm_fp8 with
                          activation_scale_ub 2.0 (not the default 1200) so that the clamp of
                          the per-token amax is exercised by the activations of this tiny model
Each has ref.json / ref_logits.f32 as gen_models.py writes them (prompts, transformers' logits
and greedy tokens) computed by transformers in fp32 on the DEQUANTIZED weights (e4m3 value times
scale in fp32, the CPU backend's semantics), and ref_quant.json / ref_quant_logits.f32: the same
with the input activations fake-quantized as the format prescribes (compressed-tensors:
calculate_qparams on the per-token / per-tensor amax, quantize + dequantize; static: the stored
input_scale; fbgemm: amax clamped to activation_scale_ub, / 448), via forward pre-hooks.

  fp8/quant-channel, fp8/quant-tensor: compressed-tensors' quantization of gqa-bf16 (weights
  upcast to fp32, F32 scales, lm_head ignored), what `frspec quantize --strategy channel|tensor`
  must reproduce bit for bit (model.safetensors only; the test compares tensors).

usage: python3 tests/gen/gen_fp8_fixtures.py   (after gen_models.py; deterministic, CPU)
"""
import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import torch
import compressed_tensors
from compressed_tensors.quantization import (QuantizationArgs, QuantizationConfig, QuantizationScheme,
                                             quantize)
from compressed_tensors.quantization.utils import calculate_qparams
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_models  # noqa: E402  (reference(), encode(), the prompts)

FIX = os.path.join(HERE, "..", "fixtures")
LINEAR = re.compile(r"^(model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)|lm_head)\.weight$")
FP8 = torch.float8_e4m3fn


def load_dir(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        wm = json.load(open(idx))["weight_map"]
        out, where = {}, {}
        for f in sorted(set(wm.values())):
            for k, v in load_file(os.path.join(d, f)).items():
                out[k] = v
                where[k] = f
        return out, where
    return load_file(os.path.join(d, "model.safetensors")), None


def ct_args(strategy):
    return QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy=strategy, dynamic=False)


def ct_quantize(w, strategy, scale_dtype=torch.float32):
    """compressed-tensors' weight quantization of w (upcast to fp32)."""
    a = ct_args(strategy)
    w32 = w.float()
    if strategy == "channel":
        mn, mx = w32.amin(dim=1, keepdim=True), w32.amax(dim=1, keepdim=True)
    else:
        mn, mx = w32.amin(), w32.amax()
    scale, zp = calculate_qparams(mn, mx, a)
    scale = scale.to(scale_dtype)
    q = quantize(x=w32, scale=scale.float(), zero_point=zp, args=a, dtype=FP8)
    return q, scale


def dequant(q, scale):
    return q.float() * scale.float()


def write_model(d, base, tensors, where, qconfig):
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for f in os.listdir(base):
        if f.endswith(".safetensors") or f.startswith("ref") or f == "model.safetensors.index.json":
            continue
        shutil.copy(os.path.join(base, f), os.path.join(d, f))
    cfg = json.load(open(os.path.join(base, "config.json")))
    if qconfig is not None:
        cfg["quantization_config"] = qconfig
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    if where is None:
        save_file(tensors, os.path.join(d, "model.safetensors"))
        return
    files = sorted(set(where.values()))
    wm = {}
    for fn in files:
        part = {k: v for k, v in tensors.items() if where[k.replace("_scale", "").replace(".input", ".weight")
                                                       if k not in where else k] == fn}
        save_file(part, os.path.join(d, fn))
        for k in part:
            wm[k] = fn
    total = sum(v.numel() * v.element_size() for v in tensors.values())
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)


def module_of(name):
    return name[: -len(".weight")]


def greedy_reference(d, prompts):
    """gen_models.reference without generate(): 32 argmax steps, never stopping at an EOS id."""
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    rows, out, row = [], [], 0
    for ids in prompts:
        seq = torch.tensor([ids])
        with torch.no_grad():
            logits = model(seq).logits[0].float().numpy()
            for _ in range(gen_models.N_NEW):
                nxt = model(seq).logits[0, -1].argmax()
                seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
            full = model(seq).logits[0].float()
        cont = seq[0, len(ids):].tolist()
        top2 = torch.topk(full[len(ids) - 1:-1], 2, dim=-1).values
        margin = float((top2[:, 0] - top2[:, 1]).min())
        if margin <= 1e-3:  # token identity would be a matter of rounding: leave the prompt out
            print(f"  prompt {len(ids):3d} tokens: near tie on the greedy path ({margin:.2g}), left out")
            continue
        rows.append(logits.astype("<f4"))
        out.append(dict(ids=ids, logits_row=row, greedy=cont, min_margin=round(margin, 6)))
        row += len(ids)
        print(f"  prompt {len(ids):3d} tokens: greedy {cont[:8]}... min margin {margin:.4f}")
    assert out, (d, "every prompt has a near tie")
    return out, np.concatenate(rows, axis=0)


def reference_of(fp8_dir, base, deq, hooks=None, prompts=None, out_prefix="ref"):
    """transformers (fp32, eager) on the dequantized weights; hooks: {module: fn(x) -> x}."""
    with tempfile.TemporaryDirectory() as tmp:
        write_model(tmp, base, {k: v.float().contiguous() for k, v in deq.items()}, None, None)
        cfg = json.load(open(os.path.join(tmp, "config.json")))
        cfg["torch_dtype"] = "float32"
        json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"))
        if hooks:
            orig = LlamaForCausalLM.from_pretrained

            def patched(*a, **k):
                m = orig(*a, **k)
                for name, mod in m.named_modules():
                    if name in hooks:
                        fn = hooks[name]
                        mod.register_forward_pre_hook(lambda _m, args, fn=fn: (fn(args[0]),))
                return m
            LlamaForCausalLM.from_pretrained = patched
            try:
                refs, logits = greedy_reference(tmp, prompts)
            finally:
                LlamaForCausalLM.from_pretrained = orig
        else:
            refs, logits = greedy_reference(tmp, prompts)
    logits.tofile(os.path.join(fp8_dir, out_prefix + "_logits.f32"))
    with open(os.path.join(fp8_dir, out_prefix + ".json"), "w") as f:
        meta = dict(vocab_size=int(logits.shape[1]), n_new=gen_models.N_NEW, logits_file=out_prefix + "_logits.f32",
                    compressed_tensors_version=compressed_tensors.__version__, torch_version=torch.__version__)
        f.write(json.dumps(meta)[:-1] + ',\n "prompts": [\n')
        f.write(",\n".join("  " + json.dumps(r) for r in refs) + "\n]}\n")


def fake_quant_token(ub=None):
    ia = QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="token", dynamic=True)

    def fn(x):
        x2 = x.reshape(-1, x.shape[-1])
        amax = x2.abs().amax(dim=1, keepdim=True)
        if ub is not None:
            amax = torch.clamp(amax, max=ub)
        scale, zp = calculate_qparams(-amax, amax, ia)
        q = quantize(x=x2, scale=scale, zero_point=zp, args=ia, dtype=FP8)
        return (q.to(scale.dtype) * scale).float().reshape(x.shape)  # compressed-tensors' _dequantize
    return fn


def fake_quant_static(s):
    ia = QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="tensor", dynamic=False)

    def fn(x):
        q = quantize(x=x, scale=s.float(), zero_point=torch.zeros(1), args=ia, dtype=FP8)
        return q.float() * s.float()  # compressed-tensors' _dequantize
    return fn


def build_ct_channel(prompts):
    base = os.path.join(FIX, "models", "gqa-bf16")
    t, where = load_dir(base)
    out, deq, hooks = {}, {}, {}
    for k, v in t.items():
        if LINEAR.match(k) and not k.startswith("lm_head"):
            q, s = ct_quantize(v, "channel", torch.bfloat16)
            out[k], out[module_of(k) + ".weight_scale"] = q, s
            deq[k] = dequant(q, s)
            hooks[module_of(k)] = fake_quant_token()
        else:
            out[k] = deq[k] = v
    ia = QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="token", dynamic=True)
    qc = QuantizationConfig(config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=ct_args("channel"),
                                                                         input_activations=ia)},
                            ignore=["lm_head"], format="float-quantized", quantization_status="compressed").model_dump()
    d = os.path.join(FIX, "models", "fp8-ct-channel")
    write_model(d, base, out, where, qc)
    print("fp8-ct-channel")
    reference_of(d, base, deq, prompts=prompts)
    reference_of(d, base, deq, hooks, prompts, "ref_quant")


def build_ct_static(prompts):
    base = os.path.join(FIX, "models", "llama3-bf16")
    t, where = load_dir(base)
    # calibrate the static input scales: amax of each Linear's input over the prompts (float model)
    model = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager")
    amax = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            mod.register_forward_pre_hook(
                lambda _m, a, name=name: amax.__setitem__(name, max(amax.get(name, 0.0), float(a[0].abs().max()))))
    with torch.no_grad():
        for ids in prompts:
            model(torch.tensor([ids]))
    ia = QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="tensor", dynamic=False)
    out, deq, hooks = {}, {}, {}
    for k, v in t.items():
        if LINEAR.match(k):
            m = module_of(k)
            q, s = ct_quantize(v, "tensor")
            out[k], out[m + ".weight_scale"] = q, s
            a = torch.tensor(amax[m])
            isc, _ = calculate_qparams(-a, a, ia)
            out[m + ".input_scale"] = isc
            deq[k] = dequant(q, s)
            hooks[m] = fake_quant_static(isc)
        else:
            out[k] = deq[k] = v
    qc = QuantizationConfig(config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=ct_args("tensor"),
                                                                         input_activations=ia)},
                            ignore=[], format="float-quantized", quantization_status="compressed").model_dump()
    d = os.path.join(FIX, "models", "fp8-ct-static")
    write_model(d, base, out, where, qc)
    print("fp8-ct-static")
    reference_of(d, base, deq, prompts=prompts)
    reference_of(d, base, deq, hooks, prompts, "ref_quant")


def build_fbgemm(prompts, ub=2.0):
    base = os.path.join(FIX, "models", "sharded-f16")
    t, where = load_dir(base)
    out, deq, hooks = {}, {}, {}
    for k, v in t.items():
        if LINEAR.match(k) and not k.startswith("lm_head"):
            w32 = v.float()
            scale = (w32.abs().amax(dim=1, keepdim=True) / 448.0).float()  # FbgemmFp8Linear.weight_scale [out, 1]
            q = (w32 / scale).clamp(-448.0, 448.0).to(FP8)
            out[k], out[module_of(k) + ".weight_scale"] = q, scale
            deq[k] = dequant(q, scale)
            hooks[module_of(k)] = fake_quant_token(ub)
        else:
            out[k] = deq[k] = v
    qc = {"quant_method": "fbgemm_fp8", "activation_scale_ub": ub, "modules_to_not_convert": ["lm_head"]}
    d = os.path.join(FIX, "models", "fp8-fbgemm")
    write_model(d, base, out, where, qc)
    print("fp8-fbgemm")
    reference_of(d, base, deq, prompts=prompts)
    reference_of(d, base, deq, hooks, prompts, "ref_quant")


def build_quant_refs():
    base = os.path.join(FIX, "models", "gqa-bf16")
    t, _ = load_dir(base)
    for strategy in ("channel", "tensor"):
        out = {}
        for k, v in t.items():
            if LINEAR.match(k) and not k.startswith("lm_head"):
                q, s = ct_quantize(v, strategy)
                out[k], out[module_of(k) + ".weight_scale"] = q, s
            else:
                out[k] = v
        d = os.path.join(FIX, "fp8", "quant-" + strategy)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        save_file(out, os.path.join(d, "model.safetensors"))
        print("fp8/quant-" + strategy, len(out), "tensors")


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    texts = {"gqa-bf16": gen_models.SHORT_TEXTS, "llama3-bf16": [gen_models.SHORT_TEXTS[0], gen_models.LONG_TEXT],
             "sharded-f16": gen_models.SHORT_TEXTS[:2]}
    build_ct_channel(gen_models.encode(texts["gqa-bf16"]))
    build_ct_static(gen_models.encode(texts["llama3-bf16"]))
    build_fbgemm(gen_models.encode(texts["sharded-f16"]))
    build_quant_refs()


if __name__ == "__main__":
    main()
