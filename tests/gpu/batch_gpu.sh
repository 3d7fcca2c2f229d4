#!/usr/bin/env bash
# batch_gpu.sh - on the GPU machine: build the batched-decoding targets (sm_90), run
# test_cuda_batch (the CUDA batched ops against the CPU backend), test_cuda_model (the batch-1
# path, unchanged), `frspec bench throughput` and the PyTorch batched graph loop
# (tests/bench/torch_baseline.py --batches) in the same call; test_cuda_sample (quick: the position-keyed verify). Logs under $OUT. Ends within LIMIT s.
# usage (repo root, GPU machine, carry .deps): [PRESETS=llama3-8b,...] [LIMIT=340] bash tests/gpu/batch_gpu.sh
set -o pipefail
START=$(date +%s)
left() { echo $(( ${LIMIT:-340} - ($(date +%s) - START) )); }
source tests/gpu/build_lib.sh
frs_build test_cuda_batch test_cuda_model test_cuda_sample frspec || exit 1
echo "build ok ($(left) s left)"
if [ "${TESTS:-1}" = 1 ]; then
timeout 100 $B/tests/test_cuda_batch > "$OUT/test_cuda_batch.log" 2>&1
echo "test_cuda_batch exit $?"; grep -v "^ok" "$OUT/test_cuda_batch.log" | tail -25
timeout 60 $B/tests/test_cuda_model > "$OUT/test_cuda_model.log" 2>&1
echo "test_cuda_model exit $?"; tail -6 "$OUT/test_cuda_model.log"
FRS_TEST_QUICK=1 timeout 70 $B/tests/test_cuda_sample > "$OUT/test_cuda_sample.log" 2>&1
echo "test_cuda_sample (quick) exit $?"; grep -v "^ok" "$OUT/test_cuda_sample.log" | tail -12
fi
echo "($(left) s left)"
timeout $(( $(left) - 80 )) $B/frspec bench throughput --preset "${PRESETS:-llama3-8b,llama3.2-1b}" --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
echo "($(left) s left)"
# A/B on the 8B shape: no CUDA graphs
if [ "${AB:-1}" = 1 ]; then
    for ab in FRS_CUDA_GRAPHS=0; do
        [ "$(left)" -gt 150 ] || break
        env $ab timeout 60 $B/frspec bench throughput --preset llama3-8b --steps 10 2>&1 | grep -v allocating |
            sed "s/^/[$ab] /" | tee -a "$OUT/throughput_ab.log"
    done
fi
echo "($(left) s left)"
PYTHONUNBUFFERED=1 timeout $(( $(left) - 5 )) python3 tests/bench/torch_baseline.py --preset "${TORCH_PRESETS:-llama3-8b}" --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
echo "done ($(left) s left)"
# E2E=1: the embedded default pair (DEFAULT: target, draft, FR 8192) on the 512-prompt job of
# tests/bench/prompts/job512.jsonl (Spec-Bench, HumanEval, GSM8K, MT-Bench; make_job512.py) at
# --batch 1 / 8 / 32 / 64 under off, fixed and auto (tests/gpu/job_policies.sh); 32 new tokens each
# (--ignore-eos): tokens/s, mean accepted length and how many results equal --batch 1 off's
if [ "${E2E:-0}" = 1 ] && [ "$(left)" -gt 40 ]; then
    BATCHES="1 8 32 64" timeout $(( $(left) - 5 )) bash tests/gpu/job_policies.sh | grep -E "^rc|identical"
fi
echo "end ($(left) s left)"
