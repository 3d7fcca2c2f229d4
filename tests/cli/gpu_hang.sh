#!/usr/bin/env bash
# gpu_hang.sh - a stuck GPU step ends the job (issue 12 item 11). The test hook
# FRS_TEST_GPU_HANG_STEP=N makes the CUDA backend's Nth decode/verify launch a kernel that spins
# until released; in a --force-nccl run (one MPI rank with a size-1 NCCL communicator, the host
# waits polling NCCL) and in a plain single-GPU run, the step watchdog must end the job non-zero
# within the watchdog time, naming the rank and the step, and abort the NCCL communicator. With
# two or more GPUs, the same at TP 2. Exit 77 (skipped) without a GPU.
# usage: gpu_hang.sh FRSPEC FIXTURES MPIEXEC [MPI flags...]
set -u
FRSPEC=$1 FIX=$2 MPIEXEC=$3
shift 3
MPIFLAGS=("$@")
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "no GPU: skipped"
    exit 77
fi
NGPU=$(nvidia-smi -L | grep -c GPU)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0 checks=0
check() { # check WHAT CONDITION...
    local what=$1
    shift
    checks=$((checks + 1))
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; cat "$TMP/err"; fail=$((fail + 1)); fi
}
MK=$FIX/spec/markov-target
WD=5
hang() { # hang NAME STEP CMD...: run CMD with the hook at STEP; check it ends in time with the message
    local name=$1 step=$2
    shift 2
    local t0 t1 rc
    t0=$(date +%s)
    FRS_TEST_GPU_HANG_STEP=$step timeout 120 "$@" > /dev/null 2> "$TMP/err"
    rc=$? t1=$(date +%s)
    echo "$name: exit $rc after $((t1 - t0)) s"
    check "$name: ends non-zero (no hang)" [ $rc -ne 0 -a $rc -ne 124 ]
    check "$name: within the watchdog's $WD s (+20 s for start-up)" [ $((t1 - t0)) -le $((WD + 20)) ]
    check "$name: the message names the rank and step $step" \
        grep -q "rank [0-9]*, request 'prompt', step $step' did not finish within $WD s" "$TMP/err"
}
for args in "--no-draft" "--draft $FIX/spec/markov-noisy --tree-depth 4 --tree-topk 8 --tree-size 32"; do
    kind=${args%% *}
    hang "--force-nccl $kind" 3 "$MPIEXEC" -np 1 "${MPIFLAGS[@]}" -x FRS_TEST_GPU_HANG_STEP "$FRSPEC" generate \
        --force-nccl --device cuda --model "$MK" $args --prompt-ids 1,2,3,4 --max-new-tokens 64 --ignore-eos \
        --watchdog-seconds $WD --quiet
    check "--force-nccl $kind: the NCCL communicator is aborted" grep -q "aborting its device communicator" "$TMP/err"
    hang "one GPU $kind" 2 "$FRSPEC" generate --device cuda --model "$MK" $args --prompt-ids 1,2,3,4 \
        --max-new-tokens 64 --ignore-eos --watchdog-seconds $WD --quiet
done
if [ "$NGPU" -ge 2 ]; then
    hang "TP 2" 3 "$MPIEXEC" -np 2 "${MPIFLAGS[@]}" -x FRS_TEST_GPU_HANG_STEP "$FRSPEC" generate --tp 2 --device cuda \
        --model "$MK" --no-draft --prompt-ids 1,2,3,4 --max-new-tokens 64 --ignore-eos --watchdog-seconds $WD --quiet
else
    echo "one GPU: the TP 2 case waits for a machine with several GPUs"
fi
echo "$((checks - fail)) passed, $fail failed"
[ $fail -eq 0 ]
