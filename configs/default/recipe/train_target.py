#!/usr/bin/env python3
"""train_target.py - trains the default target: a small Llama-3.1-architecture model with the real
Llama 3.1 tokenizer and vocabulary (128,256 ids), tied embeddings, bf16 safetensors.

First half of the one device call (device_run.sh): tokenise the corpus, train time-boxed (the step
count is fixed after the first steps from the measured speed, or given with --steps to reproduce),
evaluate held-out perplexity, print greedy samples, save_pretrained (bf16, shards of at most 15 MB:
every file under 16 MiB) into --out.

usage: train_target.py --corpus .carry/train/corpus --tokenizer tokenizer.json --out OUTDIR
                       [--budget-s 200] [--steps N] [--fused-loss] [--tiny --device cpu]   (tiny = CPU smoke test)
"""
import argparse
import json
import math
import os
import sys
import time

T0 = time.time()
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402

SEED = 1234


def model_config(tiny, layers=16, ffn=512):
    from transformers import LlamaConfig
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 2.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 1024}
    # hidden 64: the tied embedding (128,256 x 64 bf16 = 16,416,768 bytes) fits one shard under 16 MiB
    kw = dict(vocab_size=128256, hidden_size=64, intermediate_size=ffn, num_hidden_layers=layers,
              num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=2048,
              rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=data.BOS,
              eos_token_id=[data.EOT, data.EOT_ID], hidden_act="silu", attention_bias=False,
              mlp_bias=False, initializer_range=0.02)
    if tiny:
        kw.update(num_hidden_layers=2, intermediate_size=128)
    cfg = LlamaConfig(**kw, rope_parameters=rope)
    rp = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None)
    assert rp and rp.get("rope_type") == "llama3", "transformers did not take the llama3 rope: %r" % (rp,)
    return cfg


def chunked_loss(h, weight, labels, chunk=8192):
    """Mean cross-entropy of h @ weight.T against labels, in chunks whose logits are recomputed in
    the backward pass (the 128k-wide logits of a whole batch would not fit)."""
    def part(hc, w, yc):
        logits = (hc @ w.t()).float()
        return F.cross_entropy(logits, yc, reduction="sum")
    total = h.new_zeros((), dtype=torch.float32)
    for i in range(0, h.shape[0], chunk):
        if torch.is_grad_enabled():
            total = total + checkpoint(part, h[i:i + chunk], weight, labels[i:i + chunk], use_reentrant=False)
        else:
            total = total + part(h[i:i + chunk], weight, labels[i:i + chunk])
    return total / h.shape[0]


class FusedHeadLoss(torch.autograd.Function):
    """Mean cross-entropy of h @ w.T against labels with its gradients computed in the forward pass,
    chunk by chunk (softmax read from the logits once, in fp32 accumulation; no recomputation):
    less memory traffic than chunked_loss's checkpointed fp32 logits, which bound the training step
    (H100: 74.8 instead of 143 ms per step). Matmuls in bf16 on the GPU (as autocast does), fp32 on
    the CPU. Gradients checked against F.cross_entropy on the CPU (equal to 1e-8)."""

    @staticmethod
    def forward(ctx, h, w, labels, chunk):
        cdt = torch.bfloat16 if h.is_cuda else h.dtype
        with torch.autocast(h.device.type, enabled=False):
            hb, wb = h.to(cdt), w.to(cdt)
            gh = torch.empty_like(hb)
            gw = torch.zeros(w.shape, dtype=torch.float32, device=w.device)
            total = torch.zeros((), dtype=torch.float32, device=h.device)
            for i in range(0, hb.shape[0], chunk):
                hc, yc = hb[i:i + chunk], labels[i:i + chunk]
                p = torch.softmax(hc @ wb.t(), -1, dtype=torch.float32)
                idx = torch.arange(yc.shape[0], device=yc.device)
                total -= torch.log(p[idx, yc].clamp_min(1e-30)).sum()
                p[idx, yc] -= 1.0
                g = p.to(cdt)
                del p
                gh[i:i + chunk] = g @ wb
                gw += (g.t() @ hc).float()
        ctx.save_for_backward(gh, gw)
        ctx.n, ctx.hdt, ctx.wdt = hb.shape[0], h.dtype, w.dtype
        return total / hb.shape[0]

    @staticmethod
    def backward(ctx, go):
        gh, gw = ctx.saved_tensors
        s = go / ctx.n
        return (gh.float() * s).to(ctx.hdt), (gw * s).to(ctx.wdt), None, None


def forward_loss(model, rows, amp, fused=False):
    """Training: chunked_loss, or FusedHeadLoss with --fused-loss; evaluation always chunked_loss."""
    x, y = rows[:, :-1], rows[:, 1:]
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        h = model.model(input_ids=x).last_hidden_state
        w = model.lm_head.weight
        h, y = h.reshape(-1, h.shape[-1]), y.reshape(-1)
        if fused and torch.is_grad_enabled():
            return FusedHeadLoss.apply(h, w, y, 8192)
        return chunked_loss(h, w, y)


@torch.no_grad()
def evaluate(model, rows, dev, amp, bs):
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, len(rows), bs):
        r = torch.from_numpy(rows[i:i + bs]).long().to(dev)
        k = r[:, 1:].numel()
        tot += forward_loss(model, r, amp).item() * k
        n += k
    model.train()
    return tot / max(n, 1)


def lr_at(step, total, peak, warmup, floor=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


SAMPLE_PROMPTS = [
    "The history of the English language",
    "Water \\Wa\"ter\\, n.",
    "In mathematics, a prime number is",
    "The Linux kernel",
    "def fibonacci(n):\n",
    "<|start_header_id|>user<|end_header_id|>\n\nTom has 3 boxes with 12 pencils in each box. He gives away 10 "
    "pencils. How many pencils does he have left?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
]


@torch.no_grad()
def samples(model, tok, dev, n_new=48):
    model.eval()
    out = []
    for p in SAMPLE_PROMPTS:
        ids = [data.BOS] + tok.encode(p, add_special_tokens=False).ids
        x = torch.tensor([ids], device=dev)
        for _ in range(n_new):  # plain greedy loop: no dependence on generate()'s defaults
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                nxt = model(input_ids=x).logits[0, -1].argmax().item()
            x = torch.cat([x, torch.tensor([[nxt]], device=dev)], 1)
            if nxt in (data.EOT, data.EOT_ID):
                break
        out.append({"prompt": p, "completion": tok.decode(x[0, len(ids):].tolist(), skip_special_tokens=False)})
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=200.0, help="training-loop seconds (sets the step count)")
    ap.add_argument("--deadline-s", type=float, default=270.0, help="hard stop, seconds since start")
    ap.add_argument("--steps", type=int, default=0, help="fixed step count (reproduction); 0 = from budget")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--fused-loss", action="store_true",
                    help="train with FusedHeadLoss instead of chunked_loss (checkpointed fp32 logits)")
    ap.add_argument("--tiny", action="store_true", help="2 layers, little data: CPU smoke test")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--max-shards", type=int, default=0)
    ap.add_argument("--layers", type=int, default=16, help="decoder layers (the committed pair: 16)")
    ap.add_argument("--ffn", type=int, default=512, help="SwiGLU intermediate size (the committed pair: 512)")
    a = ap.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    dev = torch.device(a.device)
    amp = dev.type == "cuda"
    if amp:
        torch.backends.cuda.matmul.allow_tf32 = True
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM
    tok = Tokenizer.from_file(a.tokenizer)

    t = time.time()
    train_docs = data.load_docs(a.corpus, "train", a.max_shards or None)
    held_docs = data.load_docs(a.corpus, "heldout")
    if a.tiny:
        train_docs, held_docs = train_docs[:300], held_docs[:20]
    train = data.pack(data.encode_docs(tok, train_docs), a.seq_len)
    held = data.pack(data.encode_docs(tok, held_docs), a.seq_len)
    print("data: %d train rows, %d held-out rows of %d tokens (%.1fM / %.2fM tokens), %.1fs" %
          (len(train), len(held), a.seq_len + 1, train.size / 1e6, held.size / 1e6, time.time() - t), flush=True)

    cfg = model_config(a.tiny, a.layers, a.ffn)
    model = LlamaForCausalLM(cfg).to(dev)
    model.train()
    n_par = sum(p.numel() for p in model.parameters())
    n_emb = model.model.embed_tokens.weight.numel()
    print("model: %d params (%d embedding, %d other)" % (n_par, n_emb, n_par - n_emb), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=amp)

    gen = np.random.default_rng(SEED)
    order, pos, epoch = gen.permutation(len(train)), 0, 0
    curve = []
    total = a.steps if a.steps else (20 if a.tiny else 10 ** 9)
    held_probe = held[: min(len(held), 64)]
    step, t_loop, t_mark, ema = 0, time.time(), None, None
    while step < total:
        if pos + a.batch > len(order):
            order, pos, epoch = gen.permutation(len(train)), 0, epoch + 1
        rows = torch.from_numpy(train[order[pos:pos + a.batch]]).long().to(dev, non_blocking=True)
        pos += a.batch
        lr = lr_at(step, total, a.lr, a.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = forward_loss(model, rows, amp, a.fused_loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step == 10:
            if amp:
                torch.cuda.synchronize()
            t_mark = time.time()
        if step == 40 and not a.steps:
            if amp:
                torch.cuda.synchronize()
            per = (time.time() - t_mark) / 30
            total = int((a.budget_s - (time.time() - t_loop)) / per) + step
            print("speed: %.1f ms/step, %.0f tokens/s -> %d steps in total; peak memory %.1f GiB" %
                  (per * 1e3, a.batch * a.seq_len / per, total,
                   torch.cuda.max_memory_allocated() / 2 ** 30 if amp else 0), flush=True)
        lv = loss.item() if (step % 50 == 0 or step == total) else None
        if lv is not None:
            ema = lv if ema is None else 0.8 * ema + 0.2 * lv
            rec = {"step": step, "epoch": epoch, "lr": lr, "loss": lv, "gnorm": float(gn),
                   "s": round(time.time() - T0, 1)}
            if step % 500 == 0 or step == total:
                rec["heldout_probe_loss"] = evaluate(model, held_probe, dev, amp, 16)
            curve.append(rec)
            print(json.dumps(rec), flush=True)
        if time.time() - T0 > a.deadline_s:
            print("deadline reached at step %d of %d" % (step, total), flush=True)
            break
    train_s = time.time() - t_loop

    nll = evaluate(model, held, dev, amp, 16)
    res = {"steps": step, "planned_steps": total, "epochs_seen": epoch + pos / len(order), "train_s": round(train_s, 1),
           "tokens_seen": step * a.batch * a.seq_len, "heldout_tokens": int(held[:, 1:].size),
           "heldout_nll": nll, "heldout_ppl": math.exp(nll), "seed": SEED, "lr": a.lr, "batch": a.batch,
           "seq_len": a.seq_len, "warmup": a.warmup, "wd": a.wd,
           "loss": "fused" if a.fused_loss else "chunked fp32 logits"}
    print("RESULT " + json.dumps(res), flush=True)
    smp = samples(model, tok, dev, 16 if a.tiny else 48)
    for s in smp:
        print("SAMPLE %r -> %r" % (s["prompt"], s["completion"]), flush=True)

    os.makedirs(a.out, exist_ok=True)
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(a.out, max_shard_size="15MB", safe_serialization=True)
    from transformers import GenerationConfig
    GenerationConfig(bos_token_id=data.BOS, eos_token_id=[data.EOT, data.EOT_ID], do_sample=False).save_pretrained(a.out)
    with open(os.path.join(a.out, "train_log.json"), "w") as f:
        json.dump({"result": res, "curve": curve, "samples": smp}, f, indent=1)
    for n in sorted(os.listdir(a.out)):
        sz = os.path.getsize(os.path.join(a.out, n))
        print("file %s %d bytes%s" % (n, sz, "" if sz < 16 * 2 ** 20 else "  OVER 16 MiB"), flush=True)
    print("saved %s (%.1fs total)" % (a.out, time.time() - T0), flush=True)


if __name__ == "__main__":
    main()
