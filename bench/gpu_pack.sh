#!/bin/bash
# Prepares what bench/gpu_check.sh needs on a bare GPU machine that cannot reach the network:
# .gpu/ (git-excluded; name it in the device tool's `carry`) with this machine's deno binary and
# the npm packages the CUDA tests and the bench load, xz-compressed, and a copy of the PyTorch
# peer (../shared/peer) for the bench's comparison. Prints the size: the device tool takes at most
# 64 MiB of working tree and carried paths together.
#
#   bash bench/gpu_pack.sh            # then: device run, carry [".gpu"], bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu
DENO_BIN=$(readlink -f "$(command -v deno)")
xz -T0 -6 -c "$DENO_BIN" > .gpu/deno.xz
# node_modules without what no GPU check loads (onnxruntime's native builds, sharp's musl build).
tar -C . -cf - --exclude='node_modules/.deno/onnxruntime-node@*' \
  --exclude='node_modules/.deno/@img+sharp-libvips-linuxmusl*' \
  --exclude='node_modules/.deno/@img+sharp-linuxmusl*' node_modules deno.lock |
  xz -T0 -6 > .gpu/node_modules.tar.xz
if [ -d ../shared/peer ]; then
  tar -C ../shared -cf - --exclude='__pycache__' peer | xz -T0 -6 > .gpu/peer.tar.xz
fi
du -sh .gpu/* .gpu
