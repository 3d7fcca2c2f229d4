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
B=/tmp/build-batch
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee "$OUT/device.txt"
NOERR="-Wno-error=maybe-uninitialized -Wno-error=stringop-overflow -Wno-error=array-bounds"
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      "-DCMAKE_C_FLAGS=$NOERR" > "$OUT/build.log" 2>&1 &&
    ninja -C $B test_cuda_batch test_cuda_model test_cuda_sample frspec >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok ($(left) s left)"
timeout 100 $B/tests/test_cuda_batch > "$OUT/test_cuda_batch.log" 2>&1
echo "test_cuda_batch exit $?"; grep -v "^ok" "$OUT/test_cuda_batch.log" | tail -25
timeout 60 $B/tests/test_cuda_model > "$OUT/test_cuda_model.log" 2>&1
echo "test_cuda_model exit $?"; tail -6 "$OUT/test_cuda_model.log"
FRS_TEST_QUICK=1 timeout 70 $B/tests/test_cuda_sample > "$OUT/test_cuda_sample.log" 2>&1
echo "test_cuda_sample (quick) exit $?"; grep -v "^ok" "$OUT/test_cuda_sample.log" | tail -12
echo "($(left) s left)"
timeout $(( $(left) - 80 )) $B/frspec bench throughput --preset "${PRESETS:-llama3-8b,llama3.2-1b}" --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
echo "($(left) s left)"
PYTHONUNBUFFERED=1 timeout $(( $(left) - 5 )) python3 tests/bench/torch_baseline.py --preset "${TORCH_PRESETS:-llama3-8b}" --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
echo "done ($(left) s left)"
