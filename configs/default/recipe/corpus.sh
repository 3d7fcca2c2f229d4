#!/bin/sh
# corpus.sh - the offline training corpus of the default model pair: downloads the Debian packages
# (apt-get download; versions as of the recorded build in README.md), unpacks them into a scratch
# folder, and runs corpus.py (deterministic: fixed seed, sorted file order).
# usage: corpus.sh [OUT_DIR] [SCRATCH]    (defaults: .carry/train/corpus, /tmp/trcorp)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$HERE/../../../.carry/train/corpus}")
SCRATCH=${2:-/tmp/trcorp}
PKGS="dict-gcide dict-wn dict-jargon dict-foldoc dict-devil fortunes debian-handbook debian-reference-en postgresql-doc-15 python-django-doc git-doc linux-doc-6.1 python3.11-doc perl-doc maxima-doc golang-1.19-src python3-sympy"
mkdir -p "$SCRATCH/debs" "$SCRATCH/x"
(cd "$SCRATCH/debs" && apt-get download $PKGS)
for f in "$SCRATCH"/debs/*.deb; do
    n=$(basename "$f" | cut -d_ -f1)
    rm -rf "$SCRATCH/x/$n" && mkdir -p "$SCRATCH/x/$n" && dpkg-deb -x "$f" "$SCRATCH/x/$n"
done
ls "$SCRATCH"/debs
python3 "$HERE/corpus.py" --root "$SCRATCH/x" --gsm8k /work/shared/data/prompts/gsm8k_train.jsonl \
    --out "$OUT" --tokenizer "$HERE/../target/tokenizer.json" --count
