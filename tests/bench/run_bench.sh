#!/bin/bash
# run_bench.sh - the one script a device call runs (repo root, GPU machine, carry [".deps"]):
# build (Release-with-debug-info, sm_90), `frspec bench` on the synthetic models, the PyTorch
# baselines of the same shapes, the merged table (tests/bench/report.py), then the CUDA tests as a quick
# check (and compute-sanitizer memcheck on test_cuda_ops if time is left). Everything is logged
# under $OUT (at most 8 files): device.txt build.log bench.log frspec_bench.json torch.log
# torch_baseline.json summary.md tests.log. Ends well inside the 10-minute limit of a call.
# usage: bash tests/bench/run_bench.sh [bench options, e.g. --quick or --preset llama3-8b]
set -o pipefail
T0=$(date +%s)
left() { echo $((${BUDGET:-570} - ($(date +%s) - T0))); }
OUT=${OUT:-/tmp/frs-bench-out}
mkdir -p "$OUT"
B=${FRS_GPU_BUILD:-/tmp/build}
source tests/gpu/device_env.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
  nvcc --version | tail -1; python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  date -u; git log --oneline -1 2>/dev/null; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# -Werror is off unless -DFRSPEC_WERROR=ON (CI): gcc 13 here may warn where CI's gcc does not
TESTS="test_cuda_ops test_cuda_model test_cuda_spec test_cuda_sample"
echo "== build ($(left) s left)"
rm -f "$B/CMakeCache.txt"
if ! { cmake -S . -B "$B" -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90 -DFRSPEC_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C "$B" frspec $TESTS; } > "$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"
    echo "BUILD FAILED"
    exit 1
fi
echo "build ok ($(left) s left)"

echo "== frspec bench"
timeout $(( $(left) > 330 ? 300 : $(left) - 30 )) "$B/frspec" bench --json "$OUT/frspec_bench.json" "$@" 2>&1 \
    | grep -v "cuda backend: allocating" | tee "$OUT/bench.log"
echo "bench exit $? ($(left) s left)"
for ab in ${FRS_AB:-FRS_ATT_MMA=0}; do
    [ "$(left)" -gt 330 ] || break
    echo "== A/B: the same bench (llama3-8b, --quick) with $ab" | tee -a "$OUT/bench.log"
    env "$ab" timeout 60 "$B/frspec" bench --preset llama3-8b --quick 2>&1 | grep -v "cuda backend: allocating" \
        | tee -a "$OUT/bench.log"
done

echo "== PyTorch baselines"
PYTHONUNBUFFERED=1 timeout $(( $(left) > 200 ? 170 : $(left) - 30 )) python3 tests/bench/torch_baseline.py \
    --json "$OUT/torch_baseline.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
echo "torch exit $? ($(left) s left)"

python3 tests/bench/report.py "$OUT/frspec_bench.json" "$OUT/torch_baseline.json" > "$OUT/summary.md" 2>&1

echo "== tests ($(left) s left)" | tee "$OUT/tests.log"
rc=0
for t in $TESTS; do
    l=$(left)
    [ "$l" -lt 40 ] && { echo "$t not run: no time left" | tee -a "$OUT/tests.log"; continue; }
    ( cd "$B/tests" && FRS_TEST_QUICK=1 timeout $(( l - 20 < 150 ? l - 20 : 150 )) "./$t" ) > /tmp/t.log 2>&1
    r=$?
    grep -v "^  near tie" /tmp/t.log | tail -8 >> "$OUT/tests.log"
    echo "$t exit $r" | tee -a "$OUT/tests.log"
    [ "$r" = 0 ] || rc=1
done
l=$(left)
if [ "$l" -gt 90 ]; then
    ( cd "$B/tests" && FRS_TEST_QUICK=1 FRS_TEST_SEED=2 timeout $((l - 30)) compute-sanitizer --tool memcheck \
        --error-exitcode 9 ./test_cuda_ops ) > /tmp/san.log 2>&1
    echo "memcheck test_cuda_ops exit $?: $(grep -E 'ERROR SUMMARY' /tmp/san.log | tail -1)" | tee -a "$OUT/tests.log"
fi
if [ "$(left)" -gt 60 ] && [ -f configs/default/draft/config.json ]; then
    echo "== bench acceptance: default pair (configs/default), held-out prompts, GPU" | tee -a "$OUT/tests.log"
    timeout $(( $(left) - 30 < 150 ? $(left) - 30 : 150 )) "$B/frspec" bench acceptance \
        --model configs/default/target --draft configs/default/draft --fr-vocab-dir configs/default/fr \
        --k-list 1024,2048,4096,8192,16384,32768 --prompts tests/bench/prompts/heldout_ids.jsonl --n 24 \
        --max-new-tokens 96 --ignore-eos --device cuda --json /tmp/acc_gpu.json 2>&1 \
        | grep -v "cuda backend: allocating" | tee -a "$OUT/tests.log"
    cat /tmp/acc_gpu.json >> "$OUT/tests.log" 2>/dev/null
fi
if [ "$(left)" -gt 60 ] && [ -f configs/default/draft/config.json ]; then
    echo "== bench acceptance: default pair, 3 prompts x 32 tokens, GPU then CPU (the CPU subset)" | tee -a "$OUT/tests.log"
    for dev in cuda cpu; do
        timeout $(( $(left) - 20 < 120 ? $(left) - 20 : 120 )) "$B/frspec" bench acceptance \
            --model configs/default/target --draft configs/default/draft --fr-vocab-dir configs/default/fr \
            --k-list 4096,32768 --prompts tests/bench/prompts/heldout_ids.jsonl --n 3 --max-new-tokens 32 --ignore-eos \
            --device $dev 2>&1 | grep -v "cuda backend: allocating" | tee -a "$OUT/tests.log"
    done
fi
echo "== summary"
cat "$OUT/summary.md"
exit $rc
