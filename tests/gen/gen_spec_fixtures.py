#!/usr/bin/env python3
"""gen_spec_fixtures.py - builds tests/fixtures/spec/: EAGLE-2 draft heads in the published layout,
a "Markov" target whose next token depends on the current token only, and a PyTorch reference of
the EAGLE-2 draft forward and dynamic tree for tests/test_draft_forward.c.

Heads (config.json with the Llama fields, 1 layer, "bias": true; model.safetensors with fc.weight
[h, 2h], fc.bias, layers.0.self_attn.{q,k,v,o}_proj.weight, layers.0.mlp.{gate,up,down}_proj.weight,
layers.0.post_attention_layernorm.weight, no input_layernorm), bf16:
  head-gqa      random head for tests/fixtures/models/{gqa,llama3,tied}-* (hidden 64, 4 heads, 2 kv)
  markov-exact  for markov-target: fc = [I | 0], fc.bias = 0, o_proj = down_proj = 0, so the draft
                computes h = embed(t) and logits = lm_head(embed(t)), whose order equals the target's
                logits lm_head(norm(embed(t))) (norm weight 1): the draft's top-1 is always right.
  markov-noisy  fc = [I + noise | noise]: the draft's top-1 is right for a fraction of tokens
                (written to ref.json as "top1_agreement").
markov-target: a transformers LlamaForCausalLM (1 layer, vocab 256, hidden 64) with o_proj and
down_proj zero and final norm weight 1: logits(t) = lm_head(norm(embed(t))), checked with
transformers after saving.

Reference (head-gqa on models/gqa-bf16), ref.json + ref.f32 (little-endian float32):
for each case: prompt ids, root = transformers' greedy token after the prompt, features = the
target's last hidden state after the final norm (transformers, fp32), the draft's outputs over the
rows (f_i, t_{i+1}) (offsets into ref.f32), the root row's log-probs over the full vocabulary, and
EAGLE-2 trees for several (depth, topk, size, K) computed by an independent implementation: every
draft row is recomputed from scratch over the explicit row sequence prefix + its ancestor chain
(causal attention, no KV cache, no masks), positions = prefix i, then target_len + depth - 1.
Selections sort by (score descending, creation order); "min_gap" is the smallest score gap that
decided an order (the script refuses gaps below 1e-4, so fp32 rounding cannot change a tree).

Deterministic: fixed seeds, CPU torch. usage: python3 tests/gen/gen_spec_fixtures.py [--out DIR]
"""
import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
MIN_GAP = 1e-4

TREES = [  # depth, topk, size, K (0 = full vocabulary)
    (1, 1, 2, 0), (3, 2, 5, 0), (4, 4, 16, 0), (6, 10, 60, 0), (5, 8, 64, 0),
    (3, 4, 12, 32), (4, 8, 30, 32), (3, 8, 20, 8),
]


def head_config(hidden, heads, kv_heads, inter, vocab, theta, head_dim=None):
    c = {"architectures": ["LlamaForCausalLM"], "bias": True, "hidden_act": "silu",
         "hidden_size": hidden, "intermediate_size": inter, "max_position_embeddings": 2048,
         "model_type": "llama", "num_attention_heads": heads, "num_hidden_layers": 1,
         "num_key_value_heads": kv_heads, "rms_norm_eps": 1e-5, "rope_scaling": None,
         "rope_theta": theta, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
         "vocab_size": vocab, "bos_token_id": 507, "eos_token_id": 508}
    if head_dim:
        c["head_dim"] = head_dim
    return c


def save_head(d, cfg, sd):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()},
              os.path.join(d, "model.safetensors"))


def load_bf16_as_f32(sd):
    return {k: v.to(torch.bfloat16).to(torch.float32) for k, v in sd.items()}


class EagleHead:
    """The EAGLE-2 draft cell as published (cnets.py): x = fc(cat(embed(t), f)) (+ bias); one
    Llama decoder layer without input_layernorm (attention on x, residual x); post-attention
    norm + SwiGLU MLP + residual; no final norm; logits through the target's lm_head rows."""

    def __init__(self, sd, cfg, embed, lm_head):
        self.sd, self.embed, self.lm_head = sd, embed, lm_head
        self.C = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.D = cfg.get("head_dim") or self.C // self.H
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D))

    def rope(self, x, pos):  # x [n, heads, D]; rotate_half layout
        ang = pos.to(torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
        x1, x2 = x[..., : self.D // 2], x[..., self.D // 2:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def rows(self, feats, tokens, pos):
        """Draft outputs of a row sequence, each row seeing the earlier rows and itself."""
        sd = self.sd
        n = len(tokens)
        inp = torch.cat((self.embed[torch.tensor(tokens)], feats), dim=-1)
        x = inp @ sd["fc.weight"].T + sd["fc.bias"]
        q = (x @ sd["layers.0.self_attn.q_proj.weight"].T).view(n, self.H, self.D)
        k = (x @ sd["layers.0.self_attn.k_proj.weight"].T).view(n, self.KV, self.D)
        v = (x @ sd["layers.0.self_attn.v_proj.weight"].T).view(n, self.KV, self.D)
        p = torch.tensor(pos)
        q, k = self.rope(q, p), self.rope(k, p)
        rep = self.H // self.KV
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = torch.einsum("ihd,jhd->hij", q, k) / (self.D ** 0.5)
        s = s.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
        a = torch.einsum("hij,jhd->ihd", torch.softmax(s, dim=-1), v).reshape(n, self.H * self.D)
        h = x + a @ sd["layers.0.self_attn.o_proj.weight"].T
        hn = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps) * sd["layers.0.post_attention_layernorm.weight"]
        g = hn @ sd["layers.0.mlp.gate_proj.weight"].T
        u = hn @ sd["layers.0.mlp.up_proj.weight"].T
        return h + (torch.nn.functional.silu(g) * u) @ sd["layers.0.mlp.down_proj.weight"].T

    def logp(self, h, ids):
        lm = self.lm_head if ids is None else self.lm_head[torch.tensor(ids)]
        return torch.log_softmax(h @ lm.T, dim=-1)


def ordered(scores, idx):
    """idx sorted by (score descending, index ascending); scores as float32 values."""
    return sorted(idx, key=lambda i: (-float(scores[i]), i))


def gaps(vals):
    return [abs(float(vals[i]) - float(vals[i + 1])) for i in range(len(vals) - 1)]


def eagle_tree(head, feats, next_tokens, depth, topk, size, ids):
    """EAGLE-2 dynamic tree (topK_genrate) with every draft row recomputed from scratch."""
    T = len(next_tokens)
    min_gap = [float("inf")]

    def topk_row(lp):
        order = ordered(lp, range(len(lp)))
        min_gap[0] = min([min_gap[0]] + gaps([lp[i] for i in order[: topk + 1]]))
        return [(lp[i], i if ids is None else ids[i]) for i in order[:topk]]

    prefix_feats = feats
    pos = list(range(T))
    H = head.rows(prefix_feats, next_tokens, pos)
    root_h = H[-1]
    rec = []  # dicts: score (float32), token, parent, depth, hin (input feature)
    for v, t in topk_row(head.logp(root_h, ids)):
        rec.append(dict(score=np.float32(v), token=t, parent=-1, depth=1, hin=root_h))
    frontier = list(range(topk))
    for level in range(1, depth):
        outs = []
        for fr in frontier:
            chain = []
            c = fr
            while c >= 0:
                chain.append(c)
                c = rec[c]["parent"]
            chain.reverse()
            f = torch.cat((prefix_feats, torch.stack([rec[c]["hin"] for c in chain])), dim=0)
            toks = list(next_tokens) + [rec[c]["token"] for c in chain]
            p = pos + [T + rec[c]["depth"] - 1 for c in chain]
            outs.append(head.rows(f, toks, p)[-1])
        base = len(rec)
        for r, fr in enumerate(frontier):
            for v, t in topk_row(head.logp(outs[r], ids)):
                rec.append(dict(score=np.float32(rec[fr]["score"] + np.float32(v)), token=t, parent=fr,
                                depth=level + 1, hin=outs[r]))
        scores = [r_["score"] for r_ in rec]
        order = ordered(scores, range(base, len(rec)))
        min_gap[0] = min([min_gap[0]] + gaps([scores[i] for i in order[: topk + 1]]))
        frontier = order[:topk]
    scores = [r_["score"] for r_ in rec]
    order = ordered(scores, range(len(rec)))
    keep = min(size - 1, len(rec))
    if keep < len(rec):
        min_gap[0] = min(min_gap[0], abs(float(scores[order[keep - 1]]) - float(scores[order[keep]])) if keep > 0
                         else float("inf"))
    kept = sorted(order[:keep])
    node_of = {c: i + 1 for i, c in enumerate(kept)}
    token = [int(next_tokens[-1])] + [int(rec[c]["token"]) for c in kept]
    parent = [-1] + [0 if rec[c]["parent"] < 0 else node_of[rec[c]["parent"]] for c in kept]
    dep = [0] + [rec[c]["depth"] for c in kept]
    return dict(token=token, parent=parent, depth_of=dep, min_gap=min_gap[0])


def random_head(C, H, KV, F, seed):
    g = torch.Generator().manual_seed(seed)
    D = C // H
    r = lambda *s, std: std * torch.randn(*s, generator=g)
    return {
        "fc.weight": r(C, 2 * C, std=0.05), "fc.bias": r(C, std=0.05),
        "layers.0.self_attn.q_proj.weight": r(H * D, C, std=0.2),
        "layers.0.self_attn.k_proj.weight": r(KV * D, C, std=0.2),
        "layers.0.self_attn.v_proj.weight": r(KV * D, C, std=0.2),
        "layers.0.self_attn.o_proj.weight": r(C, H * D, std=0.1),
        "layers.0.mlp.gate_proj.weight": r(F, C, std=0.2),
        "layers.0.mlp.up_proj.weight": r(F, C, std=0.2),
        "layers.0.mlp.down_proj.weight": r(C, F, std=0.1),
        "layers.0.post_attention_layernorm.weight": 1.0 + r(C, std=0.2),
    }


def build_head_gqa(out, floats):
    """Tries head seeds from 21 until every reference tree is free of near ties."""
    for seed in range(21, 61):
        mark = (len(floats.parts), floats.n)
        try:
            return build_head_gqa_seed(out, floats, seed)
        except NearTie as e:
            print(f"head seed {seed}: {e}")
            del floats.parts[mark[0]:]
            floats.n = mark[1]
    raise SystemExit("no head seed without near ties")


class NearTie(Exception):
    pass


def build_head_gqa_seed(out, floats, seed):
    tdir = os.path.join(FIXTURES, "models", "gqa-bf16")
    tref = json.load(open(os.path.join(tdir, "ref.json")))
    model = LlamaForCausalLM.from_pretrained(tdir, dtype=torch.float32, attn_implementation="eager").eval()
    tc = model.config
    cfg = head_config(tc.hidden_size, tc.num_attention_heads, tc.num_key_value_heads, tc.intermediate_size,
                      tc.vocab_size, 10000.0)
    sd = random_head(tc.hidden_size, tc.num_attention_heads, tc.num_key_value_heads, tc.intermediate_size, seed)
    d = os.path.join(out, "head-gqa")
    save_head(d, cfg, sd)
    head = EagleHead(load_bf16_as_f32(sd), cfg, model.model.embed_tokens.weight.detach(),
                     model.lm_head.weight.detach())
    rng = np.random.default_rng(5)
    fr_ids = [int(i) for i in rng.permutation(tc.vocab_size)[:32]]
    prompts = [p["ids"] for p in tref["prompts"]] + [[507] + [int(x) for x in rng.integers(0, 507, 70)]]
    cases = []
    with torch.no_grad():
        for ids in prompts:
            out_ = model(torch.tensor([ids]), output_hidden_states=True)
            feats = out_.hidden_states[-1][0]  # after the final norm
            root = int(out_.logits[0, -1].argmax())
            next_tokens = ids[1:] + [root]
            hid = head.rows(feats, next_tokens, list(range(len(ids))))
            lp = head.logp(hid[-1], None)
            case = dict(prompt=ids, root=root, n=len(ids),
                        feat_off=floats.add(feats), hidden_off=floats.add(hid), logp_off=floats.add(lp), trees=[])
            for depth, topk, size, K in TREES:
                t = eagle_tree(head, feats, next_tokens, depth, topk, size, fr_ids[:K] if K else None)
                if t["min_gap"] < MIN_GAP:
                    raise NearTie(f"near tie {t['min_gap']:.2e} in tree {depth}/{topk}/{size}/K={K}")
                case["trees"].append(dict(depth=depth, topk=topk, size=size, k_vocab=K, **t))
            cases.append(case)
    return dict(target="models/gqa-bf16", head="spec/head-gqa", head_seed=seed, fr_ids=fr_ids, cases=cases,
                hidden_tol=1e-5)


def build_markov(out):
    """Tries target seeds from 32 until every token's top-2 logit margin exceeds 1e-3."""
    for seed in range(32, 72):
        r = build_markov_seed(out, seed)
        if r:
            return r
    raise SystemExit("no markov seed with margins above 1e-3")


def build_markov_seed(out, seed):
    V, C, F, H, KV = 256, 64, 128, 4, 2
    torch.manual_seed(31)
    cfg = LlamaConfig(vocab_size=V, hidden_size=C, intermediate_size=F, num_hidden_layers=1,
                      num_attention_heads=H, num_key_value_heads=KV, max_position_embeddings=2048,
                      rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=0, eos_token_id=1,
                      rope_parameters=dict(rope_type="default", rope_theta=10000.0))
    model = LlamaForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g))
        model.model.embed_tokens.weight.copy_(torch.randn(V, C, generator=g))
        model.lm_head.weight.copy_(1.0 * torch.randn(V, C, generator=g))
        model.model.layers[0].self_attn.o_proj.weight.zero_()
        model.model.layers[0].mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        model.model.layers[0].input_layernorm.weight.fill_(1.0)
        model.model.layers[0].post_attention_layernorm.weight.fill_(1.0)
    tdir = os.path.join(out, "markov-target")
    model.to(torch.bfloat16).save_pretrained(tdir)
    m = LlamaForCausalLM.from_pretrained(tdir, dtype=torch.float32).eval()
    E = m.model.embed_tokens.weight.detach()
    W = m.lm_head.weight.detach()
    with torch.no_grad():
        tgt = torch.stack([m(torch.tensor([[5, t]])).logits[0, -1] for t in range(V)])
        tgt2 = torch.stack([m(torch.tensor([[9, 3, 7, t]])).logits[0, -1] for t in range(V)])
    assert torch.allclose(tgt, tgt2, atol=1e-4), "markov target: logits depend on more than the current token"
    closed = (E * torch.rsqrt(E.pow(2).mean(-1, keepdim=True) + 1e-5)) @ W.T
    assert torch.allclose(tgt, closed, atol=1e-4)
    top2 = tgt.topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    if margin <= 1e-3:
        print(f"markov seed {seed}: top-2 margin {margin:.2e}")
        return None

    hc = head_config(C, H, KV, F, V, 10000.0)
    hc["bos_token_id"], hc["eos_token_id"] = 0, 1
    g = torch.Generator().manual_seed(33)
    eye = torch.cat((torch.eye(C), torch.zeros(C, C)), dim=1)
    base = random_head(C, H, KV, F, 34)
    base["fc.bias"] = torch.zeros(C)
    base["layers.0.self_attn.o_proj.weight"] = torch.zeros(C, C)
    base["layers.0.mlp.down_proj.weight"] = torch.zeros(C, F)
    exact = dict(base, **{"fc.weight": eye})
    save_head(os.path.join(out, "markov-exact"), hc, exact)
    noise = torch.randn(C, 2 * C, generator=g)

    def agreement(sd):
        f32 = load_bf16_as_f32(sd)
        # draft row (f, t): x = fc(cat(embed t, f)); attention and MLP add 0; logits = lm_head(x)
        feats = E * torch.rsqrt(E.pow(2).mean(-1, keepdim=True) + 1e-5)
        x = torch.cat((E, feats), dim=1) @ f32["fc.weight"].T
        return float(((x @ W.T).argmax(-1) == tgt.argmax(-1)).float().mean())

    info = {"markov-exact": agreement(exact)}
    assert info["markov-exact"] == 1.0, info
    for sigma in (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1):  # the first whose draft is right <= 70%
        noisy = dict(base, **{"fc.weight": eye + sigma * noise})
        info["markov-noisy"] = agreement(noisy)
        info["noise_std"] = sigma
        if info["markov-noisy"] <= 0.7:
            break
    save_head(os.path.join(out, "markov-noisy"), hc, noisy)
    return dict(target="spec/markov-target", target_seed=seed, vocab=V, min_margin=margin,
                top1_agreement=info, note="top1_agreement of markov-noisy is estimated with the "
                "feature of the same token (the real feature is the previous position's)")


class Floats:
    def __init__(self):
        self.parts, self.n = [], 0

    def add(self, t):
        a = t.detach().to(torch.float32).contiguous().numpy().ravel()
        off = self.n
        self.parts.append(a)
        self.n += a.size
        return off

    def write(self, path):
        np.concatenate(self.parts).astype("<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(FIXTURES, "spec"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    floats = Floats()
    ref = build_head_gqa(a.out, floats)
    ref["markov"] = build_markov(a.out)
    ref["floats"] = "ref.f32"
    ref["torch_version"] = torch.__version__
    floats.write(os.path.join(a.out, "ref.f32"))
    with open(os.path.join(a.out, "ref.json"), "w") as f:
        json.dump(ref, f)
    print("min gaps:", min(t["min_gap"] for c in ref["cases"] for t in c["trees"]))
    print("markov:", ref["markov"])


if __name__ == "__main__":
    main()
