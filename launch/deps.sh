#!/usr/bin/env bash
# deps.sh - install the Debian/Ubuntu packages frspec builds against (needs root or sudo).
# The CUDA backend additionally needs the CUDA Toolkit with cuBLAS and NCCL (nvcc on PATH);
# without nvcc the CPU backend alone is built.
set -euo pipefail
pkgs=(cmake ninja-build gcc g++ make pkg-config zlib1g-dev libcjson-dev libpcre2-dev libhwloc-dev
      libopenmpi-dev openmpi-bin libprotobuf-c-dev protobuf-c-compiler)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
