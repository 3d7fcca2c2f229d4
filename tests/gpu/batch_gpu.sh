#!/usr/bin/env bash
# batch_gpu.sh - on the GPU machine: build the batched-decoding targets (sm_90), run
# test_cuda_batch (the CUDA batched ops against the CPU backend), test_cuda_model (the batch-1
# path, unchanged), `frspec bench throughput` and the PyTorch batched graph loop
# (tests/bench/torch_baseline.py --batches) in the same call; test_cuda_sample (quick: the position-keyed verify). Logs under $OUT. Ends within LIMIT s.
# usage (repo root, GPU machine, carry .deps): [PRESETS=llama3-8b,...] [LIMIT=340] bash tests/gpu/batch_gpu.sh
set -o pipefail
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
START=$(date +%s)
left() { echo $(( ${LIMIT:-340} - ($(date +%s) - START) )); }
source tests/gpu/device_env.sh
B=${FRS_GPU_BUILD:-/tmp/build-suite} # suite_gpu.sh's build: a warm machine reuses it
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee "$OUT/device.txt"
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      > "$OUT/build.log" 2>&1 &&
    ninja -C $B test_cuda_batch test_cuda_model test_cuda_sample frspec >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok ($(left) s left)"
if [ "${TESTS:-1}" = 1 ]; then
timeout 100 $B/tests/test_cuda_batch > "$OUT/test_cuda_batch.log" 2>&1
echo "test_cuda_batch exit $?"; grep -v "^ok" "$OUT/test_cuda_batch.log" | tail -25
timeout 60 $B/tests/test_cuda_model > "$OUT/test_cuda_model.log" 2>&1
echo "test_cuda_model exit $?"; tail -6 "$OUT/test_cuda_model.log"
FRS_TEST_QUICK=1 timeout 70 $B/tests/test_cuda_sample > "$OUT/test_cuda_sample.log" 2>&1
echo "test_cuda_sample (quick) exit $?"; grep -v "^ok" "$OUT/test_cuda_sample.log" | tail -12
fi
echo "($(left) s left)"
timeout $(( $(left) - 80 )) $B/frspec bench throughput --preset "${PRESETS:-llama3-8b,llama3.2-1b}" --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
echo "($(left) s left)"
# A/B on the 8B shape: no CUDA graphs
if [ "${AB:-1}" = 1 ]; then
    for ab in FRS_CUDA_GRAPHS=0; do
        [ "$(left)" -gt 150 ] || break
        env $ab timeout 60 $B/frspec bench throughput --preset llama3-8b --steps 10 2>&1 | grep -v allocating |
            sed "s/^/[$ab] /" | tee -a "$OUT/throughput_ab.log"
    done
fi
echo "($(left) s left)"
PYTHONUNBUFFERED=1 timeout $(( $(left) - 5 )) python3 tests/bench/torch_baseline.py --preset "${TORCH_PRESETS:-llama3-8b}" --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
echo "done ($(left) s left)"
# E2E=1: the embedded default pair (DEFAULT: target, draft, FR 8192) on the 512-prompt job of
# tests/bench/prompts/job512.jsonl (Spec-Bench, HumanEval, GSM8K, MT-Bench; make_job512.py) at
# --batch 1 / 8 / 32 / 64 with --spec-policy auto, and off / fixed at 64, off at 1; 32 new tokens each
# (--ignore-eos): tokens/s, mean accepted length and how many results equal --batch 1 off's
if [ "${E2E:-0}" = 1 ] && [ "$(left)" -gt 40 ]; then
    DEF=${DEFAULT:-configs/default}
    for run in "1 auto" "8 auto" "32 auto" "64 auto" "64 off" "64 fixed" "1 off"; do
        set -- $run
        bs=$1 pol=$2
        [ "$(left)" -gt 20 ] || break
        timeout $(( $(left) - 10 )) $B/frspec generate --device cuda --model $DEF/target --draft $DEF/draft \
            --fr-vocab $DEF/fr/freq_8192.txt --prompts tests/bench/prompts/job512.jsonl --batch $bs --spec-policy $pol \
            --max-new-tokens 32 --ignore-eos --out "$OUT/job_b${bs}_$pol.jsonl" > /dev/null 2> "$OUT/job_b${bs}_$pol.log"
        echo "job --batch $bs --spec-policy $pol exit $?: $(grep -h 'frspec: batch' "$OUT/job_b${bs}_$pol.log" | tail -1)"
    done
    python3 - "$OUT" <<'PY'
import json, sys, os
def load(p):
    r = {}
    if os.path.exists(p):
        for l in open(p):
            j = json.loads(l); r[j["id"]] = j.get("tokens")
    return r
o = sys.argv[1]; b1 = load(f"{o}/job_b1_off.jsonl") or load(f"{o}/job_b1_auto.jsonl")
for name in ("b1_auto", "b8_auto", "b32_auto", "b64_auto", "b64_off", "b64_fixed"):
    b = load(f"{o}/job_{name}.jsonl")
    same = sum(1 for k in b if k in b1 and b[k] == b1[k])
    print(f"job {name}: {len(b)} results, {same} identical to --batch 1 --spec-policy off ({len(b1)} results)")
PY
fi
echo "end ($(left) s left)"
