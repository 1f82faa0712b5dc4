#!/bin/bash
# The GPU check of the cuda backend, for a fresh machine lent by the device tool (NVIDIA GPU, nvcc,
# PyTorch, no network), within 8 minutes. Prepare here with bench/gpu_pack.sh, then run from the
# repository root with `.gpu` carried:  bash bench/gpu_check.sh
# Logs go to $OUT (the device tool brings that folder back), else /tmp/gpu_check.
#   1. unpack deno, node_modules and the peer; the GPU, driver and nvcc versions
#   2. build the CUDA library (nvcc)
#   3. the CUDA tests on the GPU: the scan's and every cuda-backend test (STARMAMBA_CUDA_TEST_GPU=1)
#   4. compute-sanitizer (memcheck; racecheck on the kernels with shared memory) on backend tests
#   5. two epochs of the best recipe's network on the synthetic sky with backend: cuda
#   6. the bench: cuda backend, cpu and tiny presets, batch 32 and 256, then the PyTorch peer
#      (bench/peer_gpu_model.py, eager) on the same GPU in the same call when .gpu/peer.tar.xz
#      was carried
# Each step has its own time limit so one slow step cannot take the others' time.
# GPU_CHECK_STEPS="1 2 3" runs only those steps (e.g. a rerun). Tests run with --no-check: the
# packed node_modules has no type declarations (CI type-checks); checked here 2026-12-03 by
# running tests/cuda_backend_test.ts offline (empty DENO_DIR, --cached-only) from the pack: 20 passed.
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
STEPS=${GPU_CHECK_STEPS:-"1 2 3 4 5 6"}
T0=$(date +%s)
want() { [[ " $STEPS " == *" $1 "* ]]; }
stamp() { echo "== $(($(date +%s) - T0)) s: $*" | tee -a "$OUT/steps.log"; }
# The peer and deno must not run under OMP_WAIT_POLICY=passive (PyTorch 2-3x slower).
unset OMP_WAIT_POLICY

if want 1; then
  stamp "1 unpack and versions"
  if [ -f .gpu/deno.xz ]; then
    xz -dc .gpu/deno.xz > /tmp/deno && chmod +x /tmp/deno && export PATH=/tmp:$PATH
  fi
  [ -f .gpu/node_modules.tar.xz ] && [ ! -d node_modules ] && tar -xJf .gpu/node_modules.tar.xz
  [ -f .gpu/peer.tar.xz ] && mkdir -p ../shared && tar -C ../shared -xJf .gpu/peer.tar.xz
  {
    deno --version
    nvcc --version | tail -2
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)"
  } > "$OUT/versions.log" 2>&1
  cat "$OUT/versions.log"
fi
export PATH=/tmp:$PATH

if want 2; then
  stamp "2 build"
  timeout 180 deno task build:cuda > "$OUT/build.log" 2>&1 || echo "build failed: see build.log"
fi

if want 3; then
  stamp "3 GPU tests"
  STARMAMBA_CUDA_TEST_GPU=1 timeout 240 deno test --no-check -A tests/scan_cuda_test.ts \
    tests/cuda_backend_test.ts > "$OUT/test.log" 2>&1
  tail -3 "$OUT/test.log"
fi

if want 4; then
  stamp "4 compute-sanitizer"
  for tool in memcheck racecheck; do
    filter="training step of a small network"
    [ "$tool" = racecheck ] && filter="Sum, Mean|BatchMatMul|selective scan"
    STARMAMBA_CUDA_TEST_GPU=1 timeout 150 compute-sanitizer --tool "$tool" \
      deno test --no-check -A --filter "$filter" tests/cuda_backend_test.ts > "$OUT/san-$tool.log" 2>&1
    grep -E "ERROR SUMMARY|passed" "$OUT/san-$tool.log" | tail -2
  done
fi

if want 5; then
  stamp "5 train two epochs on cuda"
  timeout 180 deno task experiment configs/quickstart.yaml --set backend=cuda \
    --set train.epochs=2 --quiet > "$OUT/train.log" 2>&1
  tail -5 "$OUT/train.log"
fi

if want 6; then
  stamp "6 bench"
  for b in 32 256; do
    timeout 150 deno task bench --backend cuda --presets cpu,tiny --batch "$b" --steps 5 \
      --warmup 2 --skip-scan --out "$OUT/bench-b$b.json" > "$OUT/bench-b$b.log" 2>&1
    grep -E "^(cpu|tiny) |kernels run|peak device" "$OUT/bench-b$b.log"
  done
  # The peer on the same GPU, eager PyTorch, right after ours (PYTHONUNBUFFERED: lines as they come).
  if [ -d ../shared/peer ]; then
    PYTHONUNBUFFERED=1 timeout 150 python3 bench/peer_gpu_model.py --presets cpu,tiny \
      --batch 32,256 > "$OUT/peer-gpu.log" 2>&1
    cat "$OUT/peer-gpu.log"
  fi
fi
stamp "done"
