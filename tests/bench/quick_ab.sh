#!/bin/bash
# quick_ab.sh - one device call (repo root, GPU machine, carry [".deps"]): build, the CUDA kernel
# and model tests (quick), the kernel micro-benchmarks (the workbench tests/bench/kernels/:
# bench_kernels: copy, GEMV bandwidth of each kernel, attention), then `frspec bench --preset llama3-8b --quick` as is and
# with each switch of FRS_AB (e.g. "FRS_ATT_MMA=0 FRS_CUDA_GRAPHS=0": the variables launch/ reads
# into struct frs_backend_options). Logs under $OUT.
set -o pipefail
OUT=${OUT:-/tmp/frs-ab-out}
mkdir -p "$OUT"
B=/tmp/build
source tests/gpu/device_env.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee "$OUT/device.txt"
# -Werror is off unless -DFRSPEC_WERROR=ON (CI): gcc 13 here may warn where CI's gcc does not
TESTS="test_cuda_ops test_cuda_rng test_cuda_model test_cuda_spec test_cuda_sample"
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.log" 2>&1 && ninja -C $B frspec $TESTS bench_kernels >> "$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok"
rc=0
for t in $TESTS; do
    ( cd $B/tests && FRS_TEST_QUICK=1 timeout 150 ./$t ) > "$OUT/$t.log" 2>&1
    r=$?; [ $r = 0 ] || rc=1
    echo "$t exit $r: $(grep -v '^  near tie' "$OUT/$t.log" | tail -1)"
done
( cd $B/tests && timeout 120 ./bench_kernels ) 2>&1 | grep "^bench:" | tee "$OUT/kbench.log"
for ab in default ${FRS_AB:-}; do
    echo "== frspec bench llama3-8b --quick: $ab" | tee -a "$OUT/bench.log"
    if [ "$ab" = default ]; then e=FRS_NONE=1; else e=$ab; fi
    env "$e" timeout 90 $B/frspec bench --preset ${PRESET:-llama3-8b} --quick 2>&1 | grep -v "allocating" | tee -a "$OUT/bench.log"
done
exit $rc
