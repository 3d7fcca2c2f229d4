#!/usr/bin/env python3
"""ncu_summary.py - sum an Nsight Compute raw CSV (--csv --page raw, metrics gpu__time_duration.sum,
dram__bytes_read.sum, dram__bytes_write.sum) per kernel name over the kernels of the last STEPS steps.

A step starts at its embedding kernel: the STEPS steps before the last one are summed and divided
by STEPS (the first steps carry the GEMM algorithm timing and graph captures).
usage: ncu_summary.py FILE.csv [--steps 2]
"""
import csv
import re
import sys
from collections import defaultdict


def read_raw(path, metrics):
    """The kernels of a raw CSV in launch order: (name, value of each metric), and each metric's unit."""
    rows = []
    with open(path, newline='') as f:
        lines = [ln for ln in f if ln.startswith('"')]
    rd = csv.reader(lines)
    head = next(rd)
    units = next(rd)
    col = {h: i for i, h in enumerate(head)}
    for r in rd:
        if len(r) != len(head):
            continue
        try:
            vals = tuple(float(r[col[m]].replace(',', '')) for m in metrics)
        except ValueError:
            continue
        rows.append((r[col['Kernel Name']],) + vals)
    return rows, [units[col[m]] for m in metrics]


def main():
    path = sys.argv[1]
    rows, (tu, bu, _wu) = read_raw(path, ('gpu__time_duration.sum', 'dram__bytes_read.sum', 'dram__bytes_write.sum'))
    tscale = {'nsecond': 1e-9, 'usecond': 1e-6, 'msecond': 1e-3, 'second': 1.0}.get(tu, 1e-9)
    bscale = {'byte': 1, 'Kbyte': 1e3, 'Mbyte': 1e6, 'Gbyte': 1e9}.get(bu, 1)
    # the last STEPS whole steps: a step starts at its embedding kernel; the last one is left out
    # (it may end with the bench's read-back), as are the first (GEMM algorithm timing, captures)
    starts = [i for i, (name, *_r) in enumerate(rows) if re.search(r'embed', name, re.I)]
    want = int(sys.argv[sys.argv.index('--steps') + 1]) if '--steps' in sys.argv else 2
    if len(starts) < want + 1:
        sys.exit(f'{path}: {len(starts)} embedding launches, need {want + 1}')
    steps_rows = rows[starts[-want - 1]:starts[-1]]
    steps = want
    agg = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for name, t, rb, wb in steps_rows:
        short = re.sub(r'\(.*', '', name)[:90]
        a = agg[short]
        a[0] += 1
        a[1] += t * tscale
        a[2] += rb * bscale
        a[3] += wb * bscale
    total = sum(a[1] for a in agg.values())
    print(f'{len(steps_rows)} kernels in the last {steps} whole steps; per step:')
    print(f'{"kernel":90s} {"launches":>8s} {"ms":>8s} {"GB read":>8s} {"GB/s":>7s} {"share":>6s}')
    for name, (c, t, rb, wb) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print(f'{name:90s} {c / steps:8.1f} {1e3 * t / steps:8.3f} {rb / steps / 1e9:8.3f} '
              f'{(rb + wb) / t / 1e9 if t > 0 else 0:7.0f} {t / total:6.1%}')
    print(f'{"total":90s} {len(steps_rows) / steps:8.1f} {1e3 * total / steps:8.3f}')


if __name__ == '__main__':
    main()
