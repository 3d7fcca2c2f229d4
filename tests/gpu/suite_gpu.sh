#!/bin/bash
# suite_gpu.sh - on the GPU machine (repo root, carry .deps): build the CUDA build and run every
# ctest test labelled gpu (the CUDA kernels and backends against the CPU reference, batched
# decoding, the RNG host/device check, NCCL at one GPU, the stuck-GPU watchdog). Logs under $OUT.
# usage: bash tests/gpu/suite_gpu.sh [ctest -R regex]
set -o pipefail
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
source tests/gpu/device_env.sh
B=${FRS_GPU_BUILD:-/tmp/build-suite}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nvcc --version | tail -1; date -u; git log -1 --format=%h 2>/dev/null; } | tee "$OUT/device.txt"
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.log" 2>&1 \
    && ninja -C "$B" >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; echo BUILD FAILED; exit 1; }
echo "build ok"
ctest --test-dir "$B" -L gpu ${1:+-R "$1"} -j 2 --timeout 300 --output-on-failure > "$OUT/ctest_gpu.log" 2>&1
rc=$?
grep -E "Test +#|tests passed|tests failed" "$OUT/ctest_gpu.log" | sed 's/^ *//'
exit $rc
