# build_lib.sh - sourced by the tests/gpu scripts on the GPU machine (repo root): the device
# environment (device_env.sh), $OUT, the build folder $B (suite_gpu.sh's /tmp/build-suite unless
# FRS_GPU_BUILD says otherwise, so that a warm machine reuses it), device.txt, frs_build, frs_test and frs_job.
# usage: source tests/gpu/build_lib.sh; frs_build [ninja targets...] || exit 1
# Also the time budget of a calling script: left (seconds left of LIMIT, default 480, counted from
# when this file is sourced) and need SECONDS WHAT (false, with a line saying what is skipped, when
# SECONDS or fewer are left).
START=${START:-$(date +%s)}
left() { echo $(( ${LIMIT:-480} - ($(date +%s) - START) )); }
need() { [ "$(left)" -gt "$1" ] || { echo "skipped ($(left) s left): $2"; return 1; }; }
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
source tests/gpu/device_env.sh
B=${FRS_GPU_BUILD:-/tmp/build-suite}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee "$OUT/device.txt"
frs_build() { # configure (Release, CUDA, sm_90) and build the given targets (all without any); log in $OUT/build.log
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$OUT/build.log" 2>&1 && ninja -C "$B" "$@" >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; return 1; }
}
# frs_test NAME [TIMEOUT]: run the built test $B/tests/NAME (log $OUT/NAME.log); prints its exit status, its
# checks line and its first failures
frs_test() {
    timeout "${2:-120}" $B/tests/$1 > "$OUT/$1.log" 2>&1
    echo "$1 exit $?: $(grep -E 'checks' "$OUT/$1.log" | tail -1)"
    grep -E "FAIL" "$OUT/$1.log" | head -8
}
# frs_job BATCH POLICY [TIMEOUT]: the embedded default pair (DEFAULT, else configs/default; FR 8192) on the
# 512-prompt job (tests/bench/prompts/job512.jsonl, 32 new tokens each, --ignore-eos) at --batch BATCH
# --spec-policy POLICY; results, log and the engine's per-step trace in $OUT/job_bB_P.jsonl / .log and
# $OUT/trace_bB_P.txt (JOB_TAG appended to the names when set); prints the exit status and the engine's summary line
frs_job() {
    local def=${DEFAULT:-configs/default} tag="b$1_$2${JOB_TAG:-}"
    FRS_BATCH_TRACE="$OUT/trace_$tag.txt" timeout "${3:-120}" $B/frspec generate --device cuda --model $def/target \
        --draft $def/draft --fr-vocab $def/fr/freq_8192.txt --prompts tests/bench/prompts/job512.jsonl --batch $1 \
        --spec-policy $2 --max-new-tokens 32 --ignore-eos --out "$OUT/job_$tag.jsonl" > /dev/null 2> "$OUT/job_$tag.log"
    echo "rc $?: $(grep -h 'frspec: batch' "$OUT/job_$tag.log" | tail -1)"
}
