"""The PyTorch peer's three selective scans on a CUDA GPU, at bench/scan_bench.ts's shapes.

A one-off comparison for docs/cuda.md, run beside `deno run -A bench/scan_bench.ts` on the same
GPU. It imports the peer from its own folder (not a dependency of starmamba's tests or CI):

    python3 bench/peer_gpu_scan.py [--peer ../shared/peer]
"""
import argparse
import statistics
import sys
import time

import torch

GRAD_KEYS = ("u", "delta", "A", "B", "C", "D", "delta_bias")
# (batch, len) with 4 directions × 384 channels, d_state 16: scan_bench's two CUDA shapes.
SHAPES = [(32, 256), (2, 4096)]


def median_ms(xs):
    return 1000 * statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", default="../shared/peer", help="folder holding medmamba_torch.py")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, args.peer)
    import medmamba_torch as mm

    dev = "cuda"
    print("torch", torch.__version__, torch.cuda.get_device_name(0))
    for b, length in SHAPES:
        inp = mm.random_scan_inputs(b, 4, 384, length, n=16, seed=123, delta_scale=0.1)
        inp = {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in inp.items()}
        gy = torch.randn(inp["u"].shape, device=dev)
        for name in ["ref", "fast", "chunked"]:
            fn = mm.SCANS[name]
            fwd, both = [], []
            for r in range(args.warmup + args.reps):
                # synchronize around each call: CUDA launches return before the work is done
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                with torch.no_grad():
                    fn(**inp)
                torch.cuda.synchronize()
                t1 = time.perf_counter()
                kw = {k: (v.clone().requires_grad_() if k in GRAD_KEYS else v)
                      for k, v in inp.items()}
                torch.cuda.synchronize()
                t2 = time.perf_counter()
                fn(**kw).backward(gy)
                torch.cuda.synchronize()
                t3 = time.perf_counter()
                if r >= args.warmup:
                    fwd.append(t1 - t0)
                    both.append(t3 - t2)
            print(f"peer {name:8s} {b}x1536x{length} N16 G4  forward {median_ms(fwd):8.2f} ms "
                  f"(min {1000 * min(fwd):.2f})  forward+backward {median_ms(both):8.2f} ms "
                  f"(min {1000 * min(both):.2f})", flush=True)


if __name__ == "__main__":
    main()
