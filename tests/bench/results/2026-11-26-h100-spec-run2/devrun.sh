#!/bin/bash
# device call script of helper "spec" (not committed): build, tests, bench, sanitizer; logs under $OUT
T0=$(date +%s); left() { echo $(( ${BUDGET:-285} - ($(date +%s) - T0) )); }
NOERR="-Wno-error=maybe-uninitialized -Wno-error=uninitialized -Wno-error=stringop-overflow -Wno-error=array-bounds -Wno-error=stringop-truncation -Wno-error=format-truncation"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee $OUT/device.txt
cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 "-DCMAKE_C_FLAGS=$NOERR" > $OUT/build.log 2>&1 \
  && ninja -C /tmp/b test_cuda_sample test_cuda_spec test_cuda_ops frspec >> $OUT/build.log 2>&1 || { tail -40 $OUT/build.log; echo BUILD FAILED; exit 1; }
echo "build ok, $(left) s left"
cd /tmp/b/tests
run() { # log name, timeout, command...
  local l=$1 to=$2; shift 2
  [ "$(left)" -gt 25 ] || { echo "$l: no time"; return; }
  [ "$to" -gt "$(( $(left) - 15 ))" ] && to=$(( $(left) - 15 ))
  timeout $to "$@" >> $OUT/$l.log 2>&1; local r=$?
  grep -v "^  near tie" $OUT/$l.log | grep -E "FAIL|checks|identical|flagged|rows|graphs|reference|speculative runs|seed|kernels|fallback|device|ERROR SUMMARY|RACECHECK SUMMARY|hazard|unexpected|Invalid" | tail -25
  echo "$l ($*) exit $r ($(left) s left)"
}
run test_cuda_sample 80 ./test_cuda_sample
run test_cuda_spec 45 env FRS_TEST_QUICK=1 ./test_cuda_spec
run test_cuda_ops 30 env FRS_TEST_QUICK=1 ./test_cuda_ops
cd /tmp/b
for ab in FRS_X=default FRS_CUDA_GRAPHS=0; do
  [ "$(left)" -gt 45 ] || { echo "bench $ab: no time"; continue; }
  echo "== bench llama3-8b --quick $ab" | tee -a $OUT/bench.log
  j=; [ $ab = FRS_X=default ] && j="--json $OUT/bench_default.json"
  env $ab timeout $(( $(left) - 10 )) ./frspec bench --preset llama3-8b --quick $j 2>&1 | grep -v "allocating" | tee -a $OUT/bench.log
done
cd /tmp/b/tests
run sanitizer 40 env FRS_TEST_KERNELS_ONLY=1 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda_sample
run sanitizer 50 env FRS_TEST_KERNELS_ONLY=1 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_cuda_sample
run test_cuda_spec 80 ./test_cuda_spec
echo "done ($(left) s left)"
