#!/usr/bin/env python3
"""ncu_phases.py - the GPU time of a speculative iteration's phases from an Nsight Compute raw CSV
(--csv --page raw, metric gpu__time_duration.sum) of `frspec bench throughput --fr-only` at one
batch size: where the draft and the verify spend their kernel time, to set against the bench's wall
times (the difference is the host: launches, read-backs, tree building).

The kernels are cut into forwards at each embedding kernel. A forward of at least LONG kernels
(default 100: the target's layers) is a target forward; it is a verify when the forward before it
was a short one (a draft forward), else an autoregressive step. An iteration is the short forwards
since the last verify (the draft: catch-up, levels, their LM heads and top-k) and its verify (with
the commit's moves that follow it). The last ITERS iterations (default 3) before the final one are
averaged: per phase the kernel count, the summed time, and the kernels by summed time.
usage: ncu_phases.py FILE.csv [--iters 3] [--long 100] [--top 12]
"""
import os
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncu_summary import read_raw  # noqa: E402


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def load(path):
    rows, (tu,) = read_raw(path, ('gpu__time_duration.sum',))
    tscale = {'nsecond': 1e-9, 'ns': 1e-9, 'usecond': 1e-6, 'us': 1e-6, 'msecond': 1e-3, 'ms': 1e-3,
              'second': 1.0, 's': 1.0}[tu]
    return [(re.sub(r'\(.*', '', name)[:80], t * tscale) for name, t in rows]


def main():
    path = sys.argv[1]
    iters, long_n, top = arg('--iters', 3), arg('--long', 100), arg('--top', 12)
    rows = load(path)
    starts = [i for i, (name, _t) in enumerate(rows) if re.search(r'embed', name, re.I)]
    if not starts:
        sys.exit(f'{path}: no embedding kernel')
    fwd = [rows[a:b] for a, b in zip(starts, starts[1:] + [len(rows)])]
    its, draft = [], []
    prev_short = False
    for f in fwd:
        if len(f) >= long_n:
            if prev_short:
                its.append((draft, f))
            draft = []
            prev_short = False
        else:
            draft.extend(f)
            prev_short = True
    if len(its) < iters + 1:
        sys.exit(f'{path}: {len(its)} iterations found, need {iters + 1}')
    use = its[-iters - 1:-1]
    for phase, k in (('draft', 0), ('verify', 1)):
        agg = defaultdict(lambda: [0, 0.0])
        n = 0
        for it in use:
            for name, t in it[k]:
                agg[name][0] += 1
                agg[name][1] += t
                n += 1
        total = sum(a[1] for a in agg.values()) / iters
        print(f'{phase}: {n / iters:.0f} kernels, {total * 1e3:.3f} ms of kernel time per iteration')
        for name, (c, t) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:top]:
            print(f'  {t / iters * 1e3:8.3f} ms  {c / iters:6.1f} x  {name}')


if __name__ == '__main__':
    main()
