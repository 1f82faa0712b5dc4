#!/bin/bash
# Prepares what bench/gpu_check.sh needs on a bare GPU machine that cannot reach the network:
# .gpu/ (git-excluded; name it in the device tool's `carry`) with this machine's deno binary and
# the npm packages the CUDA tests and the bench load, xz-compressed, and a copy of the PyTorch
# peer (../shared/peer) for the bench's comparison. Prints the size: the device tool takes at most
# 64 MiB of working tree and carried paths together.
#
#   bash bench/gpu_pack.sh            # then: device run, carry [".gpu"], bash bench/gpu_check.sh
#   bash bench/gpu_pack.sh --stash-results    # before the device call: move results/ (~120 MB
#   bash bench/gpu_pack.sh --restore-results  # tracked: the released weights, predictions, plots)
#                                             # out of the tree, and back after it
# The tracked tree alone is over the limit with results/ in it (MedMamba-T's weights are 55 MiB);
# no GPU check reads it. Without results/ the tree is ~2 MB; deno.xz is ~31 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
STASH=/tmp/starmamba-results
if [ "${1:-}" = "--stash-results" ]; then
  [ -e "$STASH" ] && { echo "$STASH exists: restore it first"; exit 2; }
  mv results "$STASH" && echo "results/ moved to $STASH; restore with --restore-results"
  exit 0
fi
if [ "${1:-}" = "--restore-results" ]; then
  [ -e results ] && { echo "results/ exists here: move it aside first"; exit 2; }
  mv "$STASH" results && git status --short -- results | head
  exit 0
fi
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu
DENO_BIN=$(readlink -f "$(command -v deno)")
# deno.xz is kept while the binary is unchanged (compressing it takes minutes).
if [ ! .gpu/deno.xz -nt "$DENO_BIN" ]; then nice -n 19 xz -T1 -6 -c "$DENO_BIN" > .gpu/deno.xz; fi
# node_modules without what no GPU check loads: onnxruntime's native builds (its package stays:
# deno wants every locked package present), sharp's musl libvips, source maps, type declarations,
# minified and ES2017 browser bundles.
# tar exits 1 when a file changed while read (deno touches node_modules/.deno as it runs): the
# archive is still whole, so only exit codes above 1 stop the script.
rc=0
tar -C . -cf /tmp/starmamba-node_modules.tar --warning=no-file-changed \
  --exclude='node_modules/.deno/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v*/*' \
  --exclude='node_modules/.deno/@img+sharp-libvips-linuxmusl*/node_modules/*/*/lib/*' \
  --exclude='*.map' --exclude='*.min.js' \
  --exclude='*.es2017.js' --exclude='*.d.ts' node_modules deno.lock || rc=$?
[ "$rc" -le 1 ] || exit "$rc"
nice -n 19 xz -T1 -6 -c /tmp/starmamba-node_modules.tar > .gpu/node_modules.tar.xz
rm -f /tmp/starmamba-node_modules.tar
if [ -d ../shared/peer ]; then
  tar -C ../shared -cf - --exclude='__pycache__' peer | nice -n 19 xz -T1 -6 > .gpu/peer.tar.xz
fi
du -sh .gpu/* .gpu
echo "tracked files present in the tree: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes"
