#!/usr/bin/env python3
"""Bit-for-bit comparison of the native selective scan at two commits, on this CPU.

    python3 bench/scan_bits.py [--rev REV] [--flags "-O3 -march=native -fopenmp"]

Builds native/cpu/selective_scan.c (with its headers and scan_lanes.inc) as it is at REV
(default HEAD) and as it is in the working tree, with the same flags, and runs ss_fwd and
ss_bwd of both on the same random inputs over shapes that reach every code path (dstate 1 to
16 and a non-power of two, lengths beyond a backward chunk, odd channel counts, groups,
softplus on and off). Prints each shape and exits with 1 if any output differs in any bit.
A change meant to keep the bits (a faster path of the same operations, as scan_lanes.inc's
8-lane halves on AVX2) must pass this; results are pinned per commit and CPU kind.
Needs gcc and numpy (Debian's python3-numpy); not part of the tests.
"""
import argparse
import ctypes
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["selective_scan.c", "vmath.h", "transpose16.h", "scan_lanes.inc"]
SHAPES = [  # batch, dim, len, dstate, groups
    (2, 32, 256, 16, 1), (3, 48, 64, 16, 1), (2, 20, 17, 16, 1), (1, 64, 16, 8, 2),
    (2, 16, 4, 4, 1), (1, 32, 33, 5, 1), (2, 17, 9, 1, 1), (1, 128, 100, 16, 4),
    (2, 16, 300, 16, 1), (1, 40, 520, 3, 1), (8, 64, 16, 16, 1),
]
OUTPUTS = ["y", "du", "ddelta", "dA", "dB", "dC", "dD", "ddelta_bias"]


def build(src_dir, out, flags):
    cmd = ["gcc", *flags, "-shared", "-fPIC", "-w", "-Wno-psabi", "-o", out,
           os.path.join(src_dir, "selective_scan.c"), "-lm"]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(out)


def sources_at(rev, dest):
    for name in SOURCES:
        shown = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:native/cpu/{name}"],
                               capture_output=True)
        if shown.returncode == 0:  # scan_lanes.inc does not exist before it was written
            with open(os.path.join(dest, name), "wb") as f:
                f.write(shown.stdout)


def run(lib, shape, softplus, arrays):
    batch, dim, length, ns, groups = shape
    u, delta, a, b, c, d, bias, dy = arrays
    p = ctypes.c_void_p
    ptr = lambda x: x.ctypes.data_as(p)  # noqa: E731
    y = np.zeros_like(u)
    outs = [np.zeros_like(x) for x in (u, delta, a, b, c, d, bias)]
    ins = [ptr(x) for x in (u, delta, a, b, c, d, bias)]
    if lib.ss_fwd(batch, dim, length, ns, groups, *ins, softplus, 2, ptr(y)) != 0:
        raise RuntimeError(f"ss_fwd failed on {shape}")
    if lib.ss_bwd(batch, dim, length, ns, groups, *ins, softplus, ptr(dy), 2,
                  *[ptr(o) for o in outs]) != 0:
        raise RuntimeError(f"ss_bwd failed on {shape}")
    return [y, *outs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--flags", default="-O3 -march=native -fopenmp -std=gnu11")
    args = ap.parse_args()
    flags = shlex.split(args.flags)
    with tempfile.TemporaryDirectory() as tmp:
        old_dir = os.path.join(tmp, "old")
        os.mkdir(old_dir)
        sources_at(args.rev, old_dir)
        old = build(old_dir, os.path.join(tmp, "old.so"), flags)
        new = build(os.path.join(ROOT, "native", "cpu"), os.path.join(tmp, "new.so"), flags)
        rng = np.random.default_rng(1)
        bad = 0
        for shape in SHAPES:
            batch, dim, length, ns, groups = shape
            for softplus in (1, 0):
                f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
                delta = f32(batch, dim, length) * 2
                if not softplus:
                    delta = np.abs(delta) * 0.3
                arrays = [f32(batch, dim, length), delta.astype(np.float32),
                          -np.exp(f32(dim, ns)).astype(np.float32), f32(batch, groups, ns, length),
                          f32(batch, groups, ns, length), f32(dim), f32(dim),
                          f32(batch, dim, length)]
                a, b = run(old, shape, softplus, arrays), run(new, shape, softplus, arrays)
                differ = [n for n, x, z in zip(OUTPUTS, a, b)
                          if not np.array_equal(x.view(np.int32), z.view(np.int32))]
                bad += bool(differ)
                print(shape, f"softplus {softplus}:",
                      "same bits" if not differ else "DIFFER in " + ", ".join(differ))
        print(f"{args.rev} vs working tree ({' '.join(flags)}):",
              "all the same bits" if bad == 0 else f"{bad} cases differ")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
