#!/usr/bin/python3
"""PyTorch equivalents of the bench's other networks, timed as ../shared/peer/bench_train.py
times MedMamba (same data, loss, optimiser, threads and output lines, which bench/peer.ts parses):

  convnet                 the ConvNet of Kim & Brunner (2017) as lib/model/convnet.ts builds it
                          (written for the bench from the paper's Table 1; NCHW, PyTorch layers)
  resnet18 [--stem S]     torchvision's resnet18 (2 classes); --stem small (the default, as
                          starmamba's): conv1 3x3 stride 1 padding 1 and no max-pool
  medmamba --preset P [--no-conv | --no-ssm]
                          ../shared/peer's MedMamba (official variant, fast scan) with one half of
                          every block switched off, as starmamba's model.conv_branch /
                          model.ssm_branch false: that half passes its channels through

Random 3x64x64 data, batch 32, class-weighted cross entropy, AdamW (lr 1e-3, weight decay 0.05),
torch.set_num_threads(2); W warm-up steps then N timed steps of forward only (eval, no_grad) and
of a training step (train mode: zero_grad + forward + loss + backward + AdamW step). Run it with
bench.sh's environment (OPENBLAS_NUM_THREADS=1, no malloc trimming) and no OMP_* variables, as
`deno task bench --peer` does.
"""
import argparse
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHARED_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peer")


# ------------------------------------------------------------------------------- networks
class ConvNet(nn.Module):
    """Kim & Brunner (2017), Table 1: conv11 5x5 valid, conv12 3x3 | pool | conv21-23 | pool |
    conv31-33 | pool (32, 64, 128 filters; 3x3 convs pad 1), leaky ReLU 0.01 after every conv
    and hidden layer, dropout 0.5 before each of the two 2048-unit hidden layers, then the output
    layer. 2x2 max pooling drops an odd last row/column (PyTorch's floor)."""

    def __init__(self, in_ch=3, classes=2, size=64, filters=(32, 64, 128), convs=(2, 3, 3),
                 hidden=(2048, 2048), dropout=0.5):
        super().__init__()
        self.dropout = dropout
        self.stages = nn.ModuleList()
        cin, side = in_ch, size - 4
        for s, (n, cout) in enumerate(zip(convs, filters)):
            layers = []
            for j in range(n):
                first = s == 0 and j == 0
                layers.append(nn.Conv2d(cin, cout, 5 if first else 3, padding=0 if first else 1))
                cin = cout
            self.stages.append(nn.ModuleList(layers))
            side //= 2
        fin = cin * side * side
        self.hidden = nn.ModuleList()
        for units in hidden:
            self.hidden.append(nn.Linear(fin, units))
            fin = units
        self.output = nn.Linear(fin, classes)

    def forward(self, x):
        for stage in self.stages:
            for conv in stage:
                x = F.leaky_relu(conv(x), 0.01)
            x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        for layer in self.hidden:
            x = F.dropout(x, self.dropout, self.training)
            x = F.leaky_relu(layer(x), 0.01)
        return self.output(x)


def resnet18(stem, classes=2):
    import torchvision  # Debian's python3-torchvision
    model = torchvision.models.resnet18(num_classes=classes)
    if stem == "small":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def medmamba(shared, preset, conv, ssm, classes=2):
    """The shared peer's MedMamba with one half of every block passed through (no parameters)."""
    sys.path.insert(0, shared)
    import medmamba_torch as mm

    model = mm.build(preset, in_ch=3, num_classes=classes, scan="fast", official=True)
    for block in model.modules():
        if isinstance(block, mm.SSConvSSM):
            if not conv:
                block.conv = None
            if not ssm:
                block.ln_1 = block.ss2d = None
            block.forward = _halved_forward(block, mm.channel_shuffle)
    return model


def _halved_forward(block, channel_shuffle):
    def forward(x):
        left, right = x.chunk(2, dim=-1)
        s = right
        if block.ss2d is not None:
            s = block.drop_path(block.ss2d(block.ln_1(right)))
            if block.ssm_residual:
                s = right + s
        c = left
        if block.conv is not None:
            c = block.conv(left.permute(0, 3, 1, 2).contiguous()).permute(0, 2, 3, 1)
        return channel_shuffle(torch.cat([c, s], dim=-1), 2) + x
    return forward


# ------------------------------------------------------------------------------- timing
def fmt_times(ts):
    ms = [1000 * t for t in ts]
    return f"step ms min {min(ms):.1f} / median {statistics.median(ms):.1f} / max {max(ms):.1f}"


def make_data(n_batches, batch, size, classes, seed):
    """bench_train.py's data: normal images, 70/30 labels, inverse-frequency class weights."""
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(batch, 3, size, size, generator=g) for _ in range(n_batches)]
    probs = torch.tensor([0.7, 0.3]) if classes == 2 else torch.ones(classes)
    ys = [torch.multinomial(probs, batch, replacement=True, generator=g) for _ in range(n_batches)]
    counts = torch.bincount(torch.cat(ys), minlength=classes).float().clamp(min=1)
    return xs, ys, counts.sum() / (classes * counts)


def bench(model, args, name):
    n = args.warmup + args.steps
    xs, ys, w = make_data(n, args.batch, args.size, args.classes, args.seed)
    crit = nn.CrossEntropyLoss(weight=w)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {name} params={params:,d} input=3x{args.size}x{args.size} batch={args.batch}")
    print(f"steps: {args.warmup} warm-up + {args.steps} timed")
    model.eval()
    fwd = []
    with torch.no_grad():
        for i in range(n):
            t0 = time.perf_counter()
            model(xs[i])
            if i >= args.warmup:
                fwd.append(time.perf_counter() - t0)
    print(f"forward-only (eval, no_grad): {args.batch * args.steps / sum(fwd):8.2f} images/s   "
          f"{fmt_times(fwd)}")
    model.train()
    tr, losses = [], []
    for i in range(n):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = crit(model(xs[i]), ys[i])
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if i >= args.warmup:
            tr.append(dt)
    print(f"train fwd+bwd+AdamW step:     {args.batch * args.steps / sum(tr):8.2f} images/s   "
          f"{fmt_times(tr)}")
    print(f"loss first/last: {losses[0]:.4f} / {losses[-1]:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("network", choices=["convnet", "resnet18", "medmamba"])
    ap.add_argument("--stem", default="small", choices=["small", "imagenet"])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--no-conv", action="store_true")
    ap.add_argument("--no-ssm", action="store_true")
    ap.add_argument("--shared", default=SHARED_PEER, help="the MedMamba peer's folder")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.perf_counter()
    print(f"python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, "
          f"torch.get_num_threads()={torch.get_num_threads()}, "
          f"interop={torch.get_num_interop_threads()}, mkldnn={torch.backends.mkldnn.is_available()}")
    if args.network == "convnet":
        model, name = ConvNet(3, args.classes, args.size), "convnet"
    elif args.network == "resnet18":
        model, name = resnet18(args.stem, args.classes), f"resnet18 stem={args.stem}"
    else:
        model = medmamba(args.shared, args.preset, not args.no_conv, not args.no_ssm, args.classes)
        name = f"medmamba preset={args.preset} conv={not args.no_conv} ssm={not args.no_ssm}"
    bench(model, args, name)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB, total wall {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
