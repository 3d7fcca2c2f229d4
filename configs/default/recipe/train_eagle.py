#!/usr/bin/env python3
"""train_eagle.py - trains the EAGLE-2 draft head of the default target, as EAGLE does, and saves it
in the published layout (config.json + model.safetensors: fc.weight [C, 2C], fc.bias,
layers.0.self_attn.{q,k,v,o}_proj.weight, layers.0.mlp.{gate,up,down}_proj.weight,
layers.0.post_attention_layernorm.weight; no input_layernorm, no embed_tokens, no final norm).

Draft cell (the runtime's, runtime/draft.h): slot i holds x_i = fc(cat(embed(t_{i+1}), f_i)) at RoPE
position i, f_i = the target's last hidden state AFTER its final norm; one decoder layer without
input norm gives h_i; logits = target lm_head(h_i). Loss (EAGLE): 1.0 * smooth-L1(h_i, f_{i+1}) +
0.1 * cross-entropy of softmax(lm_head(h_i)) against the target's own distribution at i+1
(softmax(lm_head(f_{i+1}))). The target's embedding and LM head (tied) are frozen and shared.
Features get EAGLE's uniform-noise augmentation.

Data: corpus rows, plus the target's own greedy continuations of corpus prefixes and GSM8K chat
questions (what the target produces under greedy decoding, where the head is used), half and half.
Reported: top-1 agreement of argmax lm_head(h_i) with the target's greedy token at i+1, on held-out
corpus rows and on held-out self-generated rows.

usage: train_eagle.py --target configs/default/target --corpus DIR --out OUTDIR
                      [--budget-s 130] [--steps N] [--tiny --device cpu]
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
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402

SEED = 4321


class DraftLayer(nn.Module):
    """A Llama decoder layer without input_layernorm (EAGLE-2 layer 0)."""

    def __init__(self, cfg):
        super().__init__()
        from transformers.models.llama.modeling_llama import LlamaRMSNorm
        C, H, KV, D, I = (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
                          cfg.intermediate_size)
        self.H, self.KV, self.D = H, KV, D
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(C, H * D, bias=False)
        self.self_attn.k_proj = nn.Linear(C, KV * D, bias=False)
        self.self_attn.v_proj = nn.Linear(C, KV * D, bias=False)
        self.self_attn.o_proj = nn.Linear(H * D, C, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(C, I, bias=False)
        self.mlp.up_proj = nn.Linear(C, I, bias=False)
        self.mlp.down_proj = nn.Linear(I, C, bias=False)
        self.post_attention_layernorm = LlamaRMSNorm(C, eps=cfg.rms_norm_eps)

    def forward(self, x, cos, sin):
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
        B, T, _ = x.shape
        a = self.self_attn
        q = a.q_proj(x).view(B, T, self.H, self.D).transpose(1, 2)
        k = a.k_proj(x).view(B, T, self.KV, self.D).transpose(1, 2)
        v = a.v_proj(x).view(B, T, self.KV, self.D).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        rep = self.H // self.KV
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + a.o_proj(o.transpose(1, 2).reshape(B, T, self.H * self.D))
        m = self.mlp
        y = self.post_attention_layernorm(x)
        return x + m.down_proj(F.silu(m.gate_proj(y)) * m.up_proj(y))


class EagleHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
        C = cfg.hidden_size
        self.fc = nn.Linear(2 * C, C, bias=True)
        self.layers = nn.ModuleList([DraftLayer(cfg)])
        self.rotary = LlamaRotaryEmbedding(config=cfg)
        for mod in self.layers.modules():
            if isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, std=cfg.initializer_range)

    def forward(self, emb_next, feat):
        """emb_next: embed(t_{i+1}) (B, T, C); feat: f_i (B, T, C); slot i at position i."""
        x = self.fc(torch.cat([emb_next, feat], -1))
        pos = torch.arange(x.shape[1], device=x.device)[None].expand(x.shape[0], -1)
        cos, sin = self.rotary(x, pos)
        return self.layers[0](x, cos, sin)

    def published_state_dict(self):
        return {k: v for k, v in self.state_dict().items() if not k.startswith("rotary")}


def head_loss(h, f_next, w, chunk=8192):
    """Sum over rows of: soft cross-entropy (target dist from f_next) and the top-1 agreement count."""
    def part(hc, fc, w):
        with torch.no_grad():
            lt = (fc @ w.t()).float()
            pt = torch.softmax(lt, -1)
            tgt = lt.argmax(-1)
        ld = (hc @ w.t()).float()
        ce = -(pt * torch.log_softmax(ld, -1)).sum()
        return ce, (ld.argmax(-1) == tgt).sum()
    ce_tot = h.new_zeros((), dtype=torch.float32)
    hit = 0
    for i in range(0, h.shape[0], chunk):
        if torch.is_grad_enabled():
            ce, c = checkpoint(part, h[i:i + chunk], f_next[i:i + chunk], w, use_reentrant=False)
        else:
            ce, c = part(h[i:i + chunk], f_next[i:i + chunk], w)
        ce_tot = ce_tot + ce
        hit += int(c)
    return ce_tot, hit


def step_loss(target, head, rows, amp, noise, train):
    """rows (B, T+1) tokens. Returns (loss, smooth-L1, ce, top-1 hits, n)."""
    with torch.no_grad(), torch.autocast(rows.device.type, dtype=torch.bfloat16, enabled=amp):
        f = target.model(input_ids=rows).last_hidden_state.float()   # post-norm features f_0..f_T
        emb = target.model.embed_tokens(rows).float()
    feat = f[:, :-1]                                                  # f_i, i = 0..T-1
    if train and noise > 0:
        feat = feat + (torch.rand_like(feat) - 0.5) * (2 * noise)
    with torch.autocast(rows.device.type, dtype=torch.bfloat16, enabled=amp):
        h = head(emb[:, 1:], feat)                                    # slot i: (f_i, t_{i+1}) -> f_{i+1}
        f_next = f[:, 1:]
        v = F.smooth_l1_loss(h.float(), f_next, reduction="mean")
        C = h.shape[-1]
        ce, hits = head_loss(h.reshape(-1, C), f_next.reshape(-1, C).to(h.dtype), target.lm_head.weight)
    n = h.shape[0] * h.shape[1]
    ce = ce / n
    return 1.0 * v + 0.1 * ce, v, ce, hits, n


@torch.no_grad()
def self_generate(target, prompts, new_tokens, dev, bs, deadline):
    """Greedy continuations (the target's own trajectories, continued past end-of-text as
    `frspec generate --ignore-eos` does); rows = prompt + continuation."""
    out = []
    for i in range(0, len(prompts), bs):
        if time.time() > deadline:
            break
        x = torch.from_numpy(prompts[i:i + bs]).long().to(dev)
        toks = [x]
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            o = target(input_ids=x, use_cache=True, logits_to_keep=1)
            for _ in range(new_tokens):
                nxt = o.logits[:, -1].argmax(-1, keepdim=True)
                toks.append(nxt)
                if len(toks) - 1 == new_tokens:
                    break
                o = target(input_ids=nxt, past_key_values=o.past_key_values, use_cache=True)
        out.append(torch.cat(toks, 1).cpu().numpy().astype(np.int32))
    return np.concatenate(out) if out else np.zeros((0, prompts.shape[1] + new_tokens), np.int32)


def gsm8k_prompts(docs, tok, plen, filler, rng):
    """Chat-format GSM8K questions (train split) of exactly plen tokens: the tail of a random
    corpus row, <|end_of_text|>, then <|begin_of_text|> and the chat turn (as packed in training)."""
    out = []
    for s, t in docs:
        if s != "gsm8k-train":
            continue
        q = t.partition("\n")[0].strip()
        text = ("<|start_header_id|>user<|end_header_id|>\n\n" + q +
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        ids = tok.encode(text, add_special_tokens=False).ids
        k = plen - len(ids) - 2
        if k < 0:
            continue
        row = filler[rng.integers(0, len(filler))]
        out.append(list(row[len(row) - k:])[:k] + [data.EOT, data.BOS] + ids)
    return np.asarray(out, dtype=np.int32).reshape(-1, plen)


@torch.no_grad()
def evaluate(target, head, rows, dev, amp, bs):
    head.eval()
    hits = n = 0
    vs = 0.0
    for i in range(0, len(rows), bs):
        r = torch.from_numpy(rows[i:i + bs]).long().to(dev)
        _, v, _, h, k = step_loss(target, head, r, amp, 0.0, False)
        hits += h
        n += k
        vs += float(v) * k
    head.train()
    return {"top1": hits / max(n, 1), "smooth_l1": vs / max(n, 1), "positions": n}


def lr_at(step, total, peak, warmup, floor=0.05):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=130.0)
    ap.add_argument("--deadline-s", type=float, default=230.0)
    ap.add_argument("--gen-s", type=float, default=30.0, help="seconds for self-generated data at most")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=96)
    ap.add_argument("--n-gen", type=int, default=12288, help="self-generated rows")
    ap.add_argument("--gen-batch", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.1, help="uniform feature noise amplitude, x RMS(f)")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()

    torch.manual_seed(SEED)
    dev = torch.device(a.device)
    amp = dev.type == "cuda"
    from tokenizers import Tokenizer
    from transformers import AutoConfig, LlamaForCausalLM
    tok = Tokenizer.from_file(os.path.join(a.target, "tokenizer.json"))
    target = LlamaForCausalLM.from_pretrained(a.target, dtype=torch.bfloat16 if amp else torch.float32).to(dev)
    target.eval().requires_grad_(False)
    cfg = AutoConfig.from_pretrained(a.target)

    t = time.time()
    train_docs = data.load_docs(a.corpus, "train")
    held_docs = data.load_docs(a.corpus, "heldout")
    if a.tiny:
        train_docs, held_docs = train_docs[:200], held_docs[:20]
    train = data.pack(data.encode_docs(tok, train_docs), a.seq_len)
    held = data.pack(data.encode_docs(tok, held_docs), a.seq_len)
    rng = np.random.default_rng(SEED)
    print("corpus: %d train rows, %d held-out rows of %d tokens (%.1fs)" %
          (len(train), len(held), a.seq_len + 1, time.time() - t), flush=True)

    # self-generated rows: prompts = corpus row prefixes + GSM8K chat questions (train split)
    new = a.seq_len + 1 - a.prompt_len
    p_corpus = train[rng.permutation(len(train))[: a.n_gen], : a.prompt_len]
    p_gsm = gsm8k_prompts(train_docs, tok, a.prompt_len, train, rng)
    p_gsm = p_gsm[rng.permutation(len(p_gsm))[: a.n_gen // 4]]
    prompts = np.concatenate([p_corpus[: a.n_gen - len(p_gsm)], p_gsm])
    prompts = prompts[rng.permutation(len(prompts))]
    held_prompts = held[rng.permutation(len(held))[:256], : a.prompt_len]
    t = time.time()
    gbs = 8 if a.tiny else a.gen_batch
    gen_held = self_generate(target, held_prompts[: (16 if a.tiny else 256)], 32 if a.tiny else new, dev, gbs, 1e18)
    gen = self_generate(target, prompts[: (32 if a.tiny else len(prompts))], 32 if a.tiny else new, dev, gbs,
                        time.time() + a.gen_s)
    print("self-generated: %d train rows (%d GSM8K chat prompts offered), %d held-out rows, %.1fs" %
          (len(gen), len(p_gsm), len(gen_held), time.time() - t), flush=True)
    for r in gen_held[:2]:
        print("GEN %r" % tok.decode(r.tolist(), skip_special_tokens=False)[:400], flush=True)

    head = EagleHead(cfg).to(dev)
    with torch.no_grad():
        r = torch.from_numpy(train[:8]).long().to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            f = target.model(input_ids=r).last_hidden_state.float()
        rms = f.pow(2).mean().sqrt().item()
    noise = a.noise * rms
    print("feature RMS %.3f, noise amplitude %.4f; head params %d" %
          (rms, noise, sum(p.numel() for p in head.parameters())), flush=True)
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0, fused=amp)

    half = a.batch // 2 if len(gen) else 0
    total = a.steps if a.steps else (20 if a.tiny else 10 ** 9)
    step, t_loop, t_mark, curve = 0, time.time(), None, []
    L = min(train.shape[1], gen.shape[1]) if len(gen) else train.shape[1]
    while step < total:
        i_c = rng.integers(0, len(train), a.batch - half)
        parts = [train[i_c, :L]]
        if half:
            parts.append(gen[rng.integers(0, len(gen), half), :L])
        rows = torch.from_numpy(np.concatenate(parts)).long().to(dev, non_blocking=True)
        lr = lr_at(step, total, a.lr, a.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, v, ce, hits, n = step_loss(target, head, rows, amp, noise, True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(head.parameters(), 0.5)
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
            print("speed: %.1f ms/step -> %d steps in total" % (per * 1e3, total), flush=True)
        if step % 50 == 0 or step == total:
            rec = {"step": step, "lr": lr, "loss": loss.item(), "smooth_l1": v.item(), "ce": ce.item(),
                   "top1_train": hits / n, "gnorm": float(gn), "s": round(time.time() - T0, 1)}
            curve.append(rec)
            print(json.dumps(rec), flush=True)
        if time.time() - T0 > a.deadline_s:
            print("deadline reached at step %d of %d" % (step, total), flush=True)
            break

    ev_c = evaluate(target, head, held, dev, amp, 16)
    ev_g = evaluate(target, head, gen_held, dev, amp, 16)
    res = {"steps": step, "planned_steps": total, "train_s": round(time.time() - t_loop, 1), "seed": SEED,
           "lr": a.lr, "batch": a.batch, "seq_len": a.seq_len, "noise": a.noise, "self_gen_rows": int(len(gen)),
           "heldout_corpus": ev_c, "heldout_selfgen": ev_g}
    print("RESULT " + json.dumps(res), flush=True)

    os.makedirs(a.out, exist_ok=True)
    from safetensors.torch import save_file
    sd = {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in head.published_state_dict().items()}
    save_file(sd, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    dcfg = json.load(open(os.path.join(a.target, "config.json")))
    dcfg.update({"num_hidden_layers": 1, "bias": True, "architectures": ["LlamaForCausalLM"]})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(dcfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(a.out, "train_log.json"), "w") as f:
        json.dump({"result": res, "curve": curve}, f, indent=1)
    print("saved %s: %s (%.1fs total)" % (a.out, sorted(sd), time.time() - T0), flush=True)


if __name__ == "__main__":
    main()
