#!/bin/sh
# build_fr.sh - FR-Spec token lists of the default model: `frspec vocab build` over the training
# part of the corpus (never the held-out part) with the target's tokenizer, K = 1k ... 32k.
# usage: build_fr.sh FRSPEC_BINARY CORPUS_DIR [OUT_DIR]   (CORPUS_DIR = corpus.py's --out)
set -eu
FRSPEC=$(realpath "$1")
CORPUS=$(realpath "$2")
OUT=$(realpath -m "${3:-$(dirname "$0")/../fr}")
cd "$(dirname "$0")/../../.."   # repository root: the lists name the tokenizer by a relative path
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in "$CORPUS"/train-*.jsonl.xz; do
    xz -dc "$f" > "$TMP/$(basename "$f" .xz)"
done
mkdir -p "$OUT"
for K in 1024 2048 4096 8192 16384 32768; do
    "$FRSPEC" vocab build --tokenizer configs/default/target --corpus "$TMP"/train-*.jsonl --field t \
        --top "$K" --threads 2 --out "$OUT/freq_$K.pt"
done
