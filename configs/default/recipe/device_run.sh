#!/bin/bash
# device_run.sh - the one device call that makes the default pair (about 8 minutes on one H100):
# trains the target (train_target.py), then its EAGLE-2 head (train_eagle.py) on the target it just
# made, builds frspec meanwhile on the CPU, and measures acceptance with `frspec bench acceptance`
# on the GPU. Results land in $OUT: target.tar.part-* (split under 16 MiB each; `cat | tar x`),
# draft.tar, and the logs target.log, eagle.log, build.log, accept.txt.
# usage (repository root, carry [".carry/train", ".deps"]): bash configs/default/recipe/device_run.sh
#   env: TARGET_BUDGET_S (200), TARGET_DEADLINE_S (270), EAGLE_BUDGET_S (130), EAGLE_DEADLINE_S (230),
#   GEN_S (30), TARGET_STEPS / EAGLE_STEPS (0 = from the measured speed; 1380 / 520 repeat the
#   committed pair's schedule), FUSED=1 (train_target.py --fused-loss: the second run in the README),
#   TINY=1 (CPU smoke test: tiny models, no build, no bench),
#   MODE=both (default) | target (train the target only: one call) | head (TARGET_DIR=<a target trained by an
#   earlier MODE=target call, carried>: train the head on it, build frspec, measure acceptance: a second call).
set -uo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
OUT=${OUT:-/tmp/frspec-out}
mkdir -p "$OUT"
R=configs/default/recipe
T=/tmp/dp/target
D=/tmp/dp/draft
CORPUS=${CORPUS:-.carry/train/corpus}
rm -rf /tmp/dp && mkdir -p /tmp/dp
EXTRA_T=() EXTRA_E=()
if [ "${TINY:-0}" = 1 ]; then
    EXTRA_T=(--tiny --device cpu --max-shards 1 --seq-len 128 --batch 4)
    EXTRA_E=(--tiny --device cpu --batch 4 --seq-len 64 --prompt-len 16)
fi
[ "${FUSED:-0}" = 1 ] && EXTRA_T+=(--fused-loss)
[ "${TARGET_STEPS:-0}" != 0 ] && EXTRA_T+=(--steps "$TARGET_STEPS")
[ "${EAGLE_STEPS:-0}" != 0 ] && EXTRA_E+=(--steps "$EAGLE_STEPS")

MODE=${MODE:-both}
BUILD_PID=
if [ "${TINY:-0}" != 1 ] && [ "$MODE" != target ]; then
    ( source tests/gpu/device_env.sh &&
      cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
          "-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized" && nice -n 19 ninja -C /tmp/b -j 12 frspec ) \
        > "$OUT/build.log" 2>&1 &
    BUILD_PID=$!
fi

if [ "$MODE" = head ]; then
    [ -n "${TARGET_DIR:-}" ] && [ -f "$TARGET_DIR/config.json" ] || { echo "MODE=head needs TARGET_DIR"; exit 1; }
    cp -r "$TARGET_DIR" $T
    cp configs/default/target/tokenizer.json configs/default/target/tokenizer_config.json $T/
else
    python3 $R/train_target.py --corpus "$CORPUS" --tokenizer configs/default/target/tokenizer.json --out $T \
        --budget-s "${TARGET_BUDGET_S:-200}" --deadline-s "${TARGET_DEADLINE_S:-270}" "${EXTRA_T[@]}" 2>&1 | tee "$OUT/target.log" || exit 1
    cp configs/default/target/tokenizer.json configs/default/target/tokenizer_config.json $T/
    (cd /tmp/dp && tar cf - target) | split -b 15m - "$OUT/target.tar.part-"
    if [ "$MODE" = target ]; then ls -l "$OUT"; exit 0; fi
fi

python3 $R/train_eagle.py --target $T --corpus "$CORPUS" --out $D --budget-s "${EAGLE_BUDGET_S:-130}" \
    --deadline-s "${EAGLE_DEADLINE_S:-230}" --gen-s "${GEN_S:-30}" "${EXTRA_E[@]}" 2>&1 | tee "$OUT/eagle.log" || exit 1
(cd /tmp/dp && tar cf "$OUT/draft.tar" draft)

if [ -n "$BUILD_PID" ]; then
    wait "$BUILD_PID" || { echo "frspec build failed (build.log)"; tail -30 "$OUT/build.log"; exit 1; }
    source tests/gpu/device_env.sh
    timeout 90 /tmp/b/frspec bench acceptance --model $T --draft $D --fr-vocab-dir configs/default/fr \
        --k-list 1024,2048,4096,8192,16384,32768 --prompts tests/bench/prompts/heldout_ids.jsonl --n 24 \
        --max-new-tokens 96 --ignore-eos --device cuda 2>&1 | tee "$OUT/accept.txt"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> "$OUT/accept.txt"
fi
ls -l "$OUT"
