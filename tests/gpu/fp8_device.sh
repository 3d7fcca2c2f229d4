#!/usr/bin/env bash
# fp8_device.sh - on the GPU machine, the FP8 work (issue 15) in one short run: build the CUDA
# targets it needs, run its GPU tests (test_cuda_fp8, test_cuda_model on the FP8 fixtures), then
# `frspec bench` on llama3-8b (bf16) and llama3-8b-fp8 in the same run, and llama3-70b-fp8 (all 80
# layers on one GPU, KV for 4k). Each step has its own time limit; logs under $OUT.
# usage (repo root, GPU machine, .deps carried): source tests/gpu/device_env.sh && bash tests/gpu/fp8_device.sh
set -o pipefail
OUT=${OUT:-/tmp/frs-fp8-out}
mkdir -p "$OUT"
B=${B:-${FRS_GPU_BUILD:-/tmp/build-suite}} # suite_gpu.sh's build: a warm machine reuses it
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nvcc --version | tail -1; date -u; } | tee "$OUT/device.txt"
t0=$(date +%s)
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      > "$OUT/build.log" 2>&1 &&
    ninja -C $B -j 16 frspec test_cuda_fp8 test_cuda_model >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok in $(( $(date +%s) - t0 )) s"
step() { # name seconds command...
    local name=$1 secs=$2; shift 2
    local s=$(date +%s)
    timeout "$secs" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "== $name: rc $rc in $(( $(date +%s) - s )) s"
    grep -E "FAIL|checks|passed|speculative ==|rel err|near-tie|error" "$OUT/$name.log" | tail -15
}
step test_cuda_fp8 45 $B/tests/test_cuda_fp8
step bench_8b 90 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 --json "$OUT/bench_8b.json"
grep -vE "^\s*$" "$OUT/bench_8b.log" | head -60
step bench_70b_fp8 90 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 --json "$OUT/bench_70b_fp8.json"
grep -vE "^\s*$" "$OUT/bench_70b_fp8.log" | head -40
step test_cuda_fp8_model 40 $B/tests/test_cuda_model models/fp8-ct-channel models/fp8-ct-static models/fp8-fbgemm
