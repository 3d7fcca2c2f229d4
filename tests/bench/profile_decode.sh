#!/bin/bash
# profile_decode.sh - one device call (repo root, GPU machine, carry [".deps"]): the synthetic
# Llama-3-8B decode step of `FRS_BENCH=1 test_cuda_model` under Nsight Systems (graph nodes
# traced), and the per-kernel time summary: where a decode step's time goes. Logs under $OUT.
set -o pipefail
OUT=${OUT:-/tmp/frs-prof-out}
mkdir -p "$OUT"
B=/tmp/build
source tests/gpu/device_env.sh
NOERR="-Wno-error=maybe-uninitialized -Wno-error=stringop-overflow -Wno-error=array-bounds"
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    "-DCMAKE_C_FLAGS=$NOERR" > "$OUT/build.log" 2>&1 && ninja -C $B test_cuda_model >> "$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; exit 1; }
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${NSYS:-none}"
[ -n "$NSYS" ] || exit 2
cd $B/tests
FRS_BENCH=1 timeout 200 "$NSYS" profile --cuda-graph-trace=node -t cuda -o "$OUT/decode" --force-overwrite true \
    ./test_cuda_model > "$OUT/run.log" 2>&1
echo "profile exit $?"; grep -i "decode\|prefill" "$OUT/run.log" | head
"$NSYS" stats --report cuda_gpu_kern_sum --format csv "$OUT/decode.nsys-rep" > "$OUT/kern.csv" 2>/dev/null
python3 - "$OUT/kern.csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 8]
hdr = rows[0]; rows = rows[1:]
i_t, i_n, i_avg, i_name = hdr.index('Total Time (ns)'), hdr.index('Instances'), hdr.index('Avg (ns)'), hdr.index('Name')
tot = sum(float(r[i_t]) for r in rows)
for r in sorted(rows, key=lambda r: -float(r[i_t]))[:25]:
    print(f"{float(r[i_t])/tot*100:5.1f}%  n={r[i_n]:>7}  avg {float(r[i_avg])/1e3:8.2f} us  {r[i_name][:110]}")
PY
rm -f "$OUT"/*.sqlite
