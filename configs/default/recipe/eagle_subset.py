#!/usr/bin/env python3
"""eagle_subset.py - the corpus part carried to the EAGLE head's device call (the trained target
already fills most of the 64 MiB that a call carries): train-04, the first quarter of train-03's
documents, and the held-out file.
usage: eagle_subset.py CORPUS_DIR OUT_DIR   (e.g. .carry/train/corpus .carry/train-eagle/eagle)"""
import lzma
import os
import shutil
import sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with lzma.open(os.path.join(src, "train-03.jsonl.xz"), "rt", encoding="utf-8") as f:
    lines = f.read().splitlines(keepends=True)
with lzma.open(os.path.join(out, "train-sub03.jsonl.xz"), "wt", encoding="utf-8", preset=6) as f:
    f.writelines(lines[: len(lines) // 4])
for n in ("train-04.jsonl.xz", "heldout.jsonl.xz"):
    shutil.copyfile(os.path.join(src, n), os.path.join(out, n))
