#!/usr/bin/env python3
"""torch_baseline.py - the PyTorch baselines of `frspec bench`, same shapes, same device, same run.

For each preset (the shapes of runtime/synthetic.c: llama3.2-1b, llama3-8b, and the rank-0 shard
of llama3-70b at TP 4 / TP 8 run as one model on one GPU: local heads, KV heads, FFN width and
LM-head rows, no collectives), with random bf16 weights made on the GPU (nothing downloaded):

 (a) transformers: LlamaForCausalLM built from a config on the GPU in bf16, greedy
     `model.generate(..., cache_implementation="static")` (torch.compile disabled so the run stays
     inside the device call's time limit: eager static-cache generation). ms/token = (time of
     1 + S new tokens - time of 1 new token) / S, prompt of CTX random tokens.
 (b) a plain PyTorch decode loop (our own few lines, no transformers) over a static KV cache,
     one step = embed -> L x (RMSNorm, fused qkv matmul, RoPE, cache write, SDPA over the whole
     static cache with a position mask, o_proj, RMSNorm, fused gate/up, SiLU, down) -> norm ->
     LM head -> argmax fed back on the device, captured in a CUDA graph and replayed (no host
     sync per token: a stronger baseline than frspec's loop, which reads every token back).
     Also the same forward over N tokens (the verify analogue: a 60-token causal block at CTX),
     captured in a graph.
 (c) --batches LIST: the batched variant of (b), the baseline of `frspec bench throughput`: B
     sequences at context CTX in one static cache (L, B, KV, T, D), one step = the same forward over
     B rows, each row at its own position writing its own cache row and attending (SDPA, GQA, a
     per-row position mask) to its own sequence, argmax fed back, one CUDA graph per batch size;
     ms per step and tokens/s = B / step.

Writes JSON (--json) and prints one line per figure.
usage: python3 tests/bench/torch_baseline.py [--preset LIST] [--ctx 1024] [--steps 32] [--json FILE]
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

PRESETS = {
    "llama3.2-1b": dict(C=2048, F=8192, L=16, H=32, KV=8, D=64, V=128256, tied=True, tp=1),
    "llama3-8b": dict(C=4096, F=14336, L=32, H=32, KV=8, D=128, V=128256, tied=False, tp=1),
    "llama3-70b-tp4": dict(C=8192, F=28672, L=80, H=64, KV=8, D=128, V=128256, tied=False, tp=4),
    "llama3-70b-tp8": dict(C=8192, F=28672, L=80, H=64, KV=8, D=128, V=128256, tied=False, tp=8),
}


def local(p):
    tp = p["tp"]
    return dict(C=p["C"], F=p["F"] // tp, L=p["L"], H=p["H"] // tp, KV=p["KV"] // tp, D=p["D"],
                V=p["V"], Vl=(p["V"] + tp - 1) // tp, tied=p["tied"] and tp == 1)


def sync_time():
    torch.cuda.synchronize()
    return time.perf_counter()


# ---- (a) transformers generate with a static cache ------------------------------------------

def hf_generate(s, ctx, steps):
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=s["C"], intermediate_size=s["F"], num_hidden_layers=s["L"],
                      num_attention_heads=s["H"], num_key_value_heads=s["KV"], head_dim=s["D"],
                      vocab_size=s["Vl"], tie_word_embeddings=s["tied"], max_position_embeddings=8192,
                      rope_theta=500000.0, rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=1, pad_token_id=0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)  # weights initialised (normal, std 0.02) on the GPU
    torch.set_default_dtype(torch.float32)
    model.eval()
    ids = torch.randint(2, s["Vl"], (1, ctx), device="cuda")
    kw = dict(do_sample=False, cache_implementation="static", eos_token_id=None, pad_token_id=0)

    def gen(n):
        try:
            return model.generate(ids, max_new_tokens=n, min_new_tokens=n, disable_compile=True, **kw)
        except (TypeError, ValueError):
            return model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)

    with torch.no_grad():
        gen(4)  # warm-up
        t = []
        for n in (1, 1 + steps, 1, 1 + steps):
            t0 = sync_time()
            out = gen(n)
            t.append(sync_time() - t0)
            assert out.shape[1] == ctx + n, out.shape
    ms = ((t[1] - t[0]) + (t[3] - t[2])) / 2 / steps * 1e3
    del model
    torch.cuda.empty_cache()
    return ms, transformers.__version__


# ---- (b) plain PyTorch decode over a static cache, CUDA graph ----------------------------------

class Plain:
    def __init__(self, s, max_ctx):
        g = torch.Generator(device="cuda")
        g.manual_seed(1)
        C, Fl, L, H, KV, D, V, Vl = s["C"], s["F"], s["L"], s["H"], s["KV"], s["D"], s["V"], s["Vl"]

        def w(r, c):
            return (torch.rand(r, c, device="cuda", dtype=torch.bfloat16, generator=g) * 2 - 1) * math.sqrt(3.0 / c)

        self.s, self.max_ctx = s, max_ctx
        self.embed = w(V, C)
        self.lm_head = self.embed[:Vl] if s["tied"] else w(Vl, C)
        self.norm = torch.ones(C, device="cuda", dtype=torch.bfloat16)
        self.layers = [dict(wqkv=w((H + 2 * KV) * D, C), wo=w(C, H * D), wgu=w(2 * Fl, C), wdown=w(C, Fl),
                            n1=torch.ones(C, device="cuda", dtype=torch.bfloat16),
                            n2=torch.ones(C, device="cuda", dtype=torch.bfloat16)) for _ in range(L)]
        self.kc = torch.zeros(L, 1, KV, max_ctx, D, device="cuda", dtype=torch.bfloat16)
        self.vc = torch.zeros_like(self.kc)
        inv = 1.0 / (500000.0 ** (torch.arange(0, D, 2, device="cuda", dtype=torch.float32) / D))
        ang = torch.arange(max_ctx, device="cuda", dtype=torch.float32)[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos(), ang.sin()
        self.slots = torch.arange(max_ctx, device="cuda")

    @staticmethod
    def rms(x, wt):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16) * wt

    def rope(self, x, pos):  # x (1, heads, n, D)
        cos, sin = self.cos[pos][None, None], self.sin[pos][None, None]
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(torch.bfloat16)

    def forward(self, tok, pos):
        """tok, pos: (n,) device tensors; the n tokens go to cache slots pos (causal)."""
        s = self.s
        H, KV, D, Fl = s["H"], s["KV"], s["D"], s["F"]
        n = tok.shape[0]
        x = self.embed[tok]
        mask = (self.slots[None, :] <= pos[:, None])[None, None]  # (1, 1, n, T)
        for li, ly in enumerate(self.layers):
            h = self.rms(x, ly["n1"])
            qkv = h @ ly["wqkv"].t()
            q = qkv[:, :H * D].view(n, H, D).transpose(0, 1)[None]
            k = qkv[:, H * D:(H + KV) * D].view(n, KV, D).transpose(0, 1)[None]
            v = qkv[:, (H + KV) * D:].view(n, KV, D).transpose(0, 1)[None]
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.kc[li].index_copy_(2, pos, k)
            self.vc[li].index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, self.kc[li], self.vc[li], attn_mask=mask, enable_gqa=True)
            x = x + a[0].transpose(0, 1).reshape(n, H * D) @ ly["wo"].t()
            h = self.rms(x, ly["n2"])
            gu = h @ ly["wgu"].t()
            x = x + (F.silu(gu[:, :Fl]) * gu[:, Fl:]) @ ly["wdown"].t()
        logits = self.rms(x, self.norm) @ self.lm_head.t()
        return logits.float().argmax(-1)


def plain_graph(s, ctx, steps, n_block):
    max_ctx = ctx + steps + n_block + 64
    m = Plain(s, max_ctx)
    # the context's cache rows: random keys/values (their values do not change the cost)
    m.kc[:, :, :, :ctx].normal_(0, 1)
    m.vc[:, :, :, :ctx].normal_(0, 1)
    res = {}
    with torch.no_grad():
        # decode step: argmax fed back, position advanced, all on the device
        tok = torch.tensor([5], device="cuda")
        pos = torch.tensor([ctx], device="cuda")
        st = torch.cuda.Stream()
        st.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(st):
            for _ in range(3):
                m.forward(tok, pos)
        torch.cuda.current_stream().wait_stream(st)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            nxt = m.forward(tok, pos)
            tok.copy_(nxt)
            pos.add_(1)
        for _ in range(3):
            graph.replay()
        times = []
        for _ in range(2):
            pos.fill_(ctx)
            t0 = sync_time()
            for _ in range(steps):
                graph.replay()
            times.append((sync_time() - t0) / steps * 1e3)
        res["graph_decode_ms_per_token"] = min(times)
        res["graph_decode_ms_runs"] = times
        del graph
        # an n-token block at ctx (the verify analogue), one graph
        tokb = torch.randint(2, s["Vl"], (n_block,), device="cuda")
        posb = torch.arange(ctx, ctx + n_block, device="cuda")
        with torch.cuda.stream(st):
            for _ in range(3):
                m.forward(tokb, posb)
        torch.cuda.current_stream().wait_stream(st)
        gb = torch.cuda.CUDAGraph()
        with torch.cuda.graph(gb):
            m.forward(tokb, posb)
        for _ in range(3):
            gb.replay()
        t0 = sync_time()
        reps = 10
        for _ in range(reps):
            gb.replay()
        res["graph_forward_block_ms"] = (sync_time() - t0) / reps * 1e3
        res["block_tokens"] = n_block
        del gb
    del m
    torch.cuda.empty_cache()
    return res


class PlainBatch(Plain):
    """(c): Plain's weights with a cache of nb sequences; forward over one token per sequence."""

    def __init__(self, s, max_ctx, nb):
        super().__init__(s, 1)
        self.max_ctx, self.nb = max_ctx, nb
        L, KV, D = s["L"], s["KV"], s["D"]
        self.kc = torch.zeros(L, nb, KV, max_ctx, D, device="cuda", dtype=torch.bfloat16)
        self.vc = torch.zeros_like(self.kc)
        inv = 1.0 / (500000.0 ** (torch.arange(0, D, 2, device="cuda", dtype=torch.float32) / D))
        ang = torch.arange(max_ctx, device="cuda", dtype=torch.float32)[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos(), ang.sin()
        self.slots = torch.arange(max_ctx, device="cuda")
        self.bidx = torch.arange(nb, device="cuda")

    def rope_b(self, x, pos):  # x (nb, heads, 1, D), pos (nb,)
        cos, sin = self.cos[pos][:, None, None], self.sin[pos][:, None, None]
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(torch.bfloat16)

    def forward(self, tok, pos):
        s = self.s
        H, KV, D, Fl = s["H"], s["KV"], s["D"], s["F"]
        n = tok.shape[0]
        x = self.embed[tok]
        mask = (self.slots[None, :] <= pos[:, None])[:, None, None, :]  # (nb, 1, 1, T)
        for li, ly in enumerate(self.layers):
            h = self.rms(x, ly["n1"])
            qkv = h @ ly["wqkv"].t()
            q = qkv[:, :H * D].view(n, H, 1, D)
            k = qkv[:, H * D:(H + KV) * D].view(n, KV, 1, D)
            v = qkv[:, (H + KV) * D:].view(n, KV, D)
            q, k = self.rope_b(q, pos), self.rope_b(k, pos)
            self.kc[li][self.bidx, :, pos] = k[:, :, 0]
            self.vc[li][self.bidx, :, pos] = v
            a = F.scaled_dot_product_attention(q, self.kc[li], self.vc[li], attn_mask=mask, enable_gqa=True)
            x = x + a.reshape(n, H * D) @ ly["wo"].t()
            h = self.rms(x, ly["n2"])
            gu = h @ ly["wgu"].t()
            x = x + (F.silu(gu[:, :Fl]) * gu[:, Fl:]) @ ly["wdown"].t()
        logits = self.rms(x, self.norm) @ self.lm_head.t()
        return logits.float().argmax(-1)


def plain_batch_graph(s, ctx, steps, batches):
    """(c) per batch size: ms per step and tokens/s of the batched graph loop"""
    res = {}
    for nb in batches:
        try:
            m = PlainBatch(s, ctx + steps + 16, nb)
            m.kc[:, :, :, :ctx].normal_(0, 1)
            m.vc[:, :, :, :ctx].normal_(0, 1)
            with torch.no_grad():
                tok = torch.randint(2, s["Vl"], (nb,), device="cuda")
                pos = torch.full((nb,), ctx, device="cuda", dtype=torch.long)
                st = torch.cuda.Stream()
                st.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(st):
                    for _ in range(3):
                        m.forward(tok, pos)
                torch.cuda.current_stream().wait_stream(st)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    nxt = m.forward(tok, pos)
                    tok.copy_(nxt)
                    pos.add_(1)
                times = []
                for _ in range(2):
                    pos.fill_(ctx)
                    t0 = sync_time()
                    for _ in range(steps):
                        graph.replay()
                    times.append((sync_time() - t0) / steps * 1e3)
                del graph
            ms = min(times)
            res[str(nb)] = dict(step_ms=ms, tokens_per_s=nb / (ms * 1e-3))
        except Exception as e:
            res[str(nb)] = dict(error=repr(e))
        m = None
        torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default=",".join(PRESETS))
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--block", type=int, default=60)
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--skip-single", action="store_true", help="only the batched loop (c)")
    ap.add_argument("--batches", default="", help="batch sizes of the batched loop (c), e.g. 1,8,64")
    ap.add_argument("--json")
    a = ap.parse_args()
    out = dict(tool="tests/bench/torch_baseline.py", command=" ".join(sys.argv), torch=torch.__version__,
               device=torch.cuda.get_device_name(0),
               date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), ctx=a.ctx, presets={})
    for name in a.preset.split(","):
        s = local(PRESETS[name])
        r = {}
        if a.batches:
            r["batched_graph"] = plain_batch_graph(s, a.ctx, a.steps, [int(b) for b in a.batches.split(",")])
            for b, v in r["batched_graph"].items():
                if "error" in v:
                    print(f"torch {name}: batched graph loop, batch {b}: failed: {v['error']}", flush=True)
                else:
                    print(f"torch {name}: batched graph loop, ctx {a.ctx}, batch {b}: {v['step_ms']:.3f} ms/step, "
                          f"{v['tokens_per_s']:.0f} tok/s", flush=True)
        try:
            if a.skip_single:
                raise RuntimeError("skipped (--skip-single)")
            r.update(plain_graph(s, a.ctx, a.steps, a.block))
            print(f"torch {name}: plain decode loop, CUDA graph, ctx {a.ctx}: "
                  f"{r['graph_decode_ms_per_token']:.3f} ms/token; {a.block}-token block forward "
                  f"{r['graph_forward_block_ms']:.3f} ms", flush=True)
        except Exception as e:  # record and go on: one preset must not lose the others
            r["graph_error"] = repr(e)
            print(f"torch {name}: plain graph failed: {e!r}", flush=True)
        if not a.skip_hf and not a.skip_single:
            try:
                ms, ver = hf_generate(s, a.ctx, a.steps)
                r["hf_generate_static_ms_per_token"] = ms
                out["transformers"] = ver
                print(f"torch {name}: transformers {ver} generate (static cache, eager), ctx {a.ctx}: "
                      f"{ms:.3f} ms/token", flush=True)
            except Exception as e:
                r["hf_error"] = repr(e)
                print(f"torch {name}: transformers generate failed: {e!r}", flush=True)
        torch.cuda.empty_cache()
        out["presets"][name] = r
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
