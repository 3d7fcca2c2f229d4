#!/usr/bin/env python3
"""report.py - one table from `frspec bench --json` and `tests/bench/torch_baseline.py --json` of the same
run, with the issue-4 targets checked on the llama3-8b preset (markdown on stdout).
usage: python3 tests/bench/report.py FRSPEC.json TORCH.json
"""
import json
import sys


def f(v, d=3):
    return "-" if v is None else f"{v:.{d}f}"


def main():
    fr = json.load(open(sys.argv[1]))
    to = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {"presets": {}}
    print(f"device: {fr.get('device')} | frspec: `{fr.get('command')}` {fr.get('date_utc')} | "
          f"torch {to.get('torch')} transformers {to.get('transformers')}: `{to.get('command')}` {to.get('date_utc')}")
    print(f"copy bandwidth (1 GiB D2D, read + write): {f(fr.get('copy_bandwidth_gbs'), 0)} GB/s\n")
    print("| preset | frspec decode ms (ctx 1k) | tok/s | roofline share | torch graph loop ms | HF generate ms | "
          "frspec verify 60 ms (1k) | x decode | torch 60-token block ms | draft full ms | draft FR 32k ms | "
          "FR32k/full | iter EAGLE-2 ms | iter FR 32k ms |")
    print("|" + "---|" * 15)
    targets = []
    for p in fr.get("presets", []):
        name = p.get("name")
        t = to["presets"].get(name, {})
        dec = next((d for d in p.get("decode", []) if d["context"] == 1024), None)
        ver = next((v for v in p.get("verify_by_context", []) if v["context"] == 1024), None)
        size = p.get("tree", {}).get("size")
        dk = {d["k"]: d for d in p.get("draft_and_iteration", [])}
        full = max(dk) if dk else None
        d_full = dk.get(full, {}).get("draft_tree_ms") if dk else None
        d32 = dk.get(32768, {}).get("draft_tree_ms")
        row = [name, f(dec and dec["ms_per_token"]), f(dec and dec["tokens_per_s"], 1),
               f(dec and 100 * dec["roofline_share"], 1) + "%", f(t.get("graph_decode_ms_per_token")),
               f(t.get("hf_generate_static_ms_per_token")),
               f(ver and ver["verify_ms"]) + ("" if size == 60 else f" (n={size})"),
               f(ver and ver["ratio_to_decode"], 2), f(t.get("graph_forward_block_ms")), f(d_full), f(d32),
               f(d32 / d_full if d32 and d_full else None, 2),
               f(dk.get(full, {}).get("iteration_ms")), f(dk.get(32768, {}).get("iteration_ms"))]
        print("| " + " | ".join(row) + " |")
        if name == "llama3-8b" and dec:
            share = dec["roofline_share"]
            targets.append(("decode >= 90% of the roofline (ctx 1k)", f"{100 * share:.1f}%", share >= 0.90))
            if ver:
                targets.append(("verify 60 tokens <= 1.15x decode step (ctx 1k)", f"{ver['ratio_to_decode']:.2f}x",
                                ver["ratio_to_decode"] <= 1.15))
            if d32 and d_full:
                targets.append(("FR-Spec 32k draft <= 0.6x full-vocabulary draft", f"{d32 / d_full:.2f}x",
                                d32 / d_full <= 0.6))
            g, h, b = (t.get("graph_decode_ms_per_token"), t.get("hf_generate_static_ms_per_token"),
                       t.get("graph_forward_block_ms"))
            if g and h:
                targets.append(("decode ahead of both PyTorch baselines",
                                f"{dec['ms_per_token']:.3f} vs graph {g:.3f} / HF {h:.3f} ms",
                                dec["ms_per_token"] < g and dec["ms_per_token"] < h))
            if b and ver:
                targets.append(("verify 60 ahead of the PyTorch 60-token block (graph)",
                                f"{ver['verify_ms']:.3f} vs {b:.3f} ms", ver["verify_ms"] < b))
    if targets:
        print("\n| target (llama3-8b, H100 bf16 batch 1) | measured | met |\n|---|---|---|")
        for name, val, ok in targets:
            print(f"| {name} | {val} | {'yes' if ok else 'NO'} |")
    for p in fr.get("presets", []):
        print(f"\n### {p['name']} (tree {p['tree']['depth']}/{p['tree']['topk']}/{p['tree']['size']})\n")
        print("| context | decode ms | tok/s | GB/step | floor ms | share | verify ms (n=%d) | x decode |" %
              p["tree"]["size"])
        print("|---|---|---|---|---|---|---|---|")
        vc = {v["context"]: v for v in p.get("verify_by_context", [])}
        for d in p.get("decode", []):
            v = vc.get(d["context"], {})
            print(f"| {d['context']} | {f(d['ms_per_token'])} | {f(d['tokens_per_s'], 1)} | "
                  f"{f(d['bytes_per_step'] / 1e9, 2)} | {f(d['floor_ms'])} | {f(100 * d['roofline_share'], 1)}% | "
                  f"{f(v.get('verify_ms'))} | {f(v.get('ratio_to_decode'), 2)} |")
        print("\n| tree nodes (ctx 1k) | " + " | ".join(str(v["tree_size"]) for v in p.get("verify_by_tree_size", []))
              + " |")
        print("|---|" + "---|" * len(p.get("verify_by_tree_size", [])))
        print("| verify ms | " + " | ".join(f(v["verify_ms"]) for v in p.get("verify_by_tree_size", [])) + " |")
        print("\n| draft vocabulary | draft_tree ms | per level | x full | verify ms | accept+commit ms | "
              "iteration ms | tok/s at published acceptance |")
        print("|---|---|---|---|---|---|---|---|")
        for d in p.get("draft_and_iteration", []):
            print(f"| {d['method']} K={d['k']} | {f(d['draft_tree_ms'])} | {f(d['draft_ms_per_level'])} | "
                  f"{f(d['draft_ratio_to_full'], 2)} | {f(d['verify_ms'])} | {f(d['accept_commit_ms'])} | "
                  f"{f(d['iteration_ms'])} | {f(d['projected_tokens_per_s'], 0)} (x{d['published_acceptance_llama3_8b']}) |")
        if p.get("error"):
            print(f"\nERROR: {p['error']}")


if __name__ == "__main__":
    main()
