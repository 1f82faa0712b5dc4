"""The PyTorch peer's MedMamba trained and run eagerly on a CUDA GPU: images/s and peak memory.

The GPU half of the bench's peer comparison (the CPU half is ../shared/peer/bench.sh through
bench/peer.ts), run by bench/gpu_check.sh beside `deno task bench --backend cuda` in the same
call. It imports the peer from its own folder (not a dependency of starmamba's tests or CI), with
the official block variant that starmamba's defaults build, AdamW and cross-entropy as in the
peer's CPU bench, on random 3×64×64 batches. Prints one JSON line per preset and batch.

    python3 bench/peer_gpu_model.py [--peer ../shared/peer] [--presets cpu,tiny] [--batch 32,256]
"""
import argparse
import json
import statistics
import sys
import time

import torch


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def timed(fn, warmup, steps, dev):
    """Median seconds of fn() over `steps` runs after `warmup`, each ending in a device sync."""
    for _ in range(warmup):
        fn()
    sync(dev)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", default="../shared/peer", help="folder holding medmamba_torch.py")
    ap.add_argument("--presets", default="cpu,tiny")
    ap.add_argument("--batch", default="32,256")
    ap.add_argument("--scan", default="chunked", help="the peer's scan: ref, fast or chunked")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cuda", help="cuda, or cpu to check the script here")
    args = ap.parse_args()
    sys.path.insert(0, args.peer)
    import medmamba_torch as mm

    dev = args.device
    name = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
    for preset in args.presets.split(","):
        for batch in [int(b) for b in args.batch.split(",")]:
            torch.manual_seed(0)
            model = mm.build(preset, scan=args.scan, official=True).to(dev)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
            crit = torch.nn.CrossEntropyLoss()
            x = torch.randn(batch, 3, 64, 64, device=dev)
            y = torch.randint(0, 2, (batch,), device=dev)
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()

            def train():
                opt.zero_grad(set_to_none=True)
                crit(model(x), y).backward()
                opt.step()

            model.train()
            t_train = timed(train, args.warmup, args.steps, dev)
            peak = torch.cuda.max_memory_allocated() if dev == "cuda" else None
            model.eval()
            with torch.no_grad():
                t_infer = timed(lambda: model(x), args.warmup, args.steps, dev)
            print(json.dumps({
                "peer": "medmamba_torch (official variant), eager",
                "device": name, "torch": torch.__version__, "preset": preset, "batch": batch,
                "scan": args.scan, "train_images_per_s": batch / t_train,
                "infer_images_per_s": batch / t_infer, "train_step_ms": 1000 * t_train,
                "peak_memory_bytes": peak,
            }), flush=True)
            del model, opt


if __name__ == "__main__":
    main()
