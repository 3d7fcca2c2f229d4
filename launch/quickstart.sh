#!/usr/bin/env bash
# quickstart.sh - the README's first command: install the dependencies, build, and run the main
# job (speculative generation with the embedded default model pair) on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target frspec
exec ./build/frspec generate --prompt "${1:-The quick brown fox}" --max-new-tokens "${2:-64}"
