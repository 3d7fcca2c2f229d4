#!/usr/bin/env bash
# ctest_gpu.sh - on the GPU machine: build everything (release, CUDA for sm_90) and run the whole
# ctest suite there, GPU tests included (nothing skipped but what needs several GPUs), then the
# default model pair on the GPU, speculative and autoregressive. Logs under $OUT.
# usage (repo root, GPU machine, carry .deps): bash tests/gpu/ctest_gpu.sh
set -o pipefail
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
source tests/gpu/device_env.sh
B=/tmp/build-ctest
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nvcc --version | tail -1; date -u; git log -1 --format=%h 2>/dev/null; } | tee "$OUT/device.txt"
# -Werror is off unless -DFRSPEC_WERROR=ON (CI): gcc 13 here may warn where CI's gcc does not
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.log" 2>&1 && ninja -C $B >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok"
ctest --test-dir $B -j 8 --output-on-failure --timeout 300 2>&1 | tee "$OUT/ctest.log" | grep -vE "^\s+Start" | tail -40
rc=$?
P="The history of the Roman Empire"
for mode in "" "--no-draft"; do
    $B/frspec generate --device cuda --prompt "$P" --max-new-tokens 128 --ignore-eos --json --quiet $mode > "$OUT/default$mode.json"
    python3 -c "import json;d=json.load(open('$OUT/default$mode.json'));print('default pair ${mode:-speculative}:',d['n_tokens'],'tokens',round(d['timing']['tokens_per_s'],1),'tok/s','accepted',d.get('mean_accepted'))"
done
python3 -c "import json;a=json.load(open('$OUT/default.json'))['tokens'];b=json.load(open('$OUT/default--no-draft.json'))['tokens'];print('default pair speculative == autoregressive:',a==b)"
exit $rc
