#!/usr/bin/env python3
"""job_identical.py - how many results of each job file in DIR (job_b*_*.jsonl, written by frs_job of
tests/gpu/build_lib.sh) carry the same tokens as DIR/job_b1_off.jsonl (--batch 1, --spec-policy off).
usage: python3 tests/bench/job_identical.py DIR"""
import glob
import json
import os
import sys


def load(path):
    res = {}
    if os.path.exists(path):
        for line in open(path):
            j = json.loads(line)
            res[j["id"]] = j.get("tokens")
    return res


def main():
    out = sys.argv[1]
    ref = load(f"{out}/job_b1_off.jsonl")
    for path in sorted(glob.glob(f"{out}/job_b*_*.jsonl")):
        b = load(path)
        same = sum(1 for k in b if k in ref and b[k] == ref[k])
        print(f"{os.path.basename(path)}: {len(b)} results, {same} identical to --batch 1 off")


if __name__ == "__main__":
    main()
