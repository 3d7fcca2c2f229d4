# build_lib.sh - sourced by the tests/gpu scripts on the GPU machine (repo root): the device
# environment (device_env.sh), $OUT, the build folder $B (suite_gpu.sh's /tmp/build-suite unless
# FRS_GPU_BUILD says otherwise, so that a warm machine reuses it), device.txt, and frs_build.
# usage: source tests/gpu/build_lib.sh; frs_build [ninja targets...] || exit 1
OUT=${OUT:-/tmp/frs-gpu-out}
mkdir -p "$OUT"
source tests/gpu/device_env.sh
B=${FRS_GPU_BUILD:-/tmp/build-suite}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; date -u; } | tee "$OUT/device.txt"
frs_build() { # configure (Release, CUDA, sm_90) and build the given targets (all without any); log in $OUT/build.log
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$OUT/build.log" 2>&1 && ninja -C "$B" "$@" >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; return 1; }
}
