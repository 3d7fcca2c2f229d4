#!/bin/bash
# run_gpu_tests.sh - builds the CUDA backend on the GPU machine and runs its tests, the GEMV /
# decode-step benchmarks and compute-sanitizer (memcheck, racecheck) on short runs; logs go to
# $OUT (the device tool's output folder; /tmp/frs-gpu-out when unset), at most 6 files.
# usage (repo root, GPU machine): bash tests/gpu/run_gpu_tests.sh [quick]
#   quick: build + tests only (no benchmark, no sanitizer)
set -o pipefail
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
B=${FRS_GPU_BUILD:-/tmp/build}
source tests/gpu/device_env.sh
# some carried .pc files (libcjson) name /usr paths without ${prefix}: point them at the prefix
for pc in "$FRSPEC_DEPS"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
    [ -f "$pc" ] && sed -i -e "s|^libdir=/usr/|libdir=$FRSPEC_DEPS/usr/|" -e "s|^includedir=/usr/|includedir=$FRSPEC_DEPS/usr/|" "$pc"
done
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv; nvcc --version | tail -1; date -u; } 2>&1 | tee "$OUT/device.txt"

# -Werror is off unless -DFRSPEC_WERROR=ON (CI): gcc 13 here may warn where CI's gcc does not
TESTS="test_cuda_ops test_cuda_rng test_cuda_model test_cuda_spec test_cuda_sample"
echo "== build" | tee "$OUT/build.log"
rm -f "$B/CMakeCache.txt"
if ! { cmake -S . -B "$B" -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90 -DFRSPEC_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C "$B" $TESTS bench_kernels; } >> "$OUT/build.log" 2>&1; then
    tail -60 "$OUT/build.log"
    echo "BUILD FAILED"
    exit 1
fi
echo "build ok"

echo "== tests" | tee "$OUT/tests.log"
rc=0
for t in $TESTS; do
    echo "-- $t" | tee -a "$OUT/tests.log"
    ( cd "$B/tests" && timeout 200 "./$t" ) > /tmp/t.log 2>&1
    r=$?
    grep -v "^  near tie" /tmp/t.log | tail -40 | tee -a "$OUT/tests.log"
    echo "$t exit $r" | tee -a "$OUT/tests.log"
    [ "$r" = 0 ] || rc=1
done
[ "$1" = quick ] && exit $rc

echo "== bench" | tee "$OUT/bench.log"
( cd "$B/tests" && timeout 120 ./bench_kernels ) 2>&1 | grep -E "bench|checks" | tee -a "$OUT/bench.log" # the kernel workbench
( cd "$B/tests" && FRS_BENCH=1 timeout 150 ./test_cuda_model ) 2>&1 | grep -E "bench|FAIL" | tee -a "$OUT/bench.log"

echo "== compute-sanitizer" | tee "$OUT/sanitizer.log"
for run in "memcheck test_cuda_ops" "memcheck test_cuda_spec" "racecheck test_cuda_ops"; do
    set -- $run
    tool=$1
    t=$2
    ( cd "$B/tests" && FRS_TEST_QUICK=1 FRS_TEST_SEED=2 timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 9 "./$t" ) \
        > /tmp/san.log 2>&1
    r=$?
    echo "$tool $t exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san.log | tail -1)" | tee -a "$OUT/sanitizer.log"
    if [ "$r" != 0 ]; then
        grep -m5 -A12 -E "Invalid|Race|hazard|Error|FAIL" /tmp/san.log | head -80 | tee -a "$OUT/sanitizer.log"
        tail -5 /tmp/san.log >> "$OUT/sanitizer.log"
        rc=1
    fi
done
exit $rc
