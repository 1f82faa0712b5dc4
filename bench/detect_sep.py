"""SEP's side of bench/detect_bench.ts: times sep.Background + sep.extract on one FITS frame.

    python3 bench/detect_sep.py FRAME.fits [--reps 3] [--serve]

Needs Debian's python3-sep and python3-astropy. Blank (NaN) pixels are SEP's mask: excluded from
the background and set to 0 before filtering. Extraction: thresh 1.5 relative to
err = globalrms, SEP's defaults otherwise (minarea 5, 3x3 kernel, 32 deblending thresholds,
mincont 0.005, clean). Prints one JSON object with medians over `reps` runs, after one warm-up
run: background_ms (sep.Background and back()), extract_ms (subtraction and sep.extract),
total_ms, the number of sources, SEP's version. With --serve it loads the frame, warms up, prints
{"ready": version}, then runs once per line "run" read from stdin and prints that run's timings
as one JSON line: the bench interleaves SEP's runs with starmamba's, so both see the same load.
"""
import argparse
import json
import sys
import time

import numpy as np
import sep
from astropy.io import fits


def run(data, mask):
    t0 = time.perf_counter()
    bkg = sep.Background(data, mask=mask)
    back = bkg.back()
    t1 = time.perf_counter()
    sub = data - back
    sub[mask] = 0.0
    objs = sep.extract(sub, 1.5, err=bkg.globalrms, mask=mask)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, len(objs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("frame")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--serve", action="store_true")
    a = p.parse_args()
    with fits.open(a.frame) as hdul:
        data = np.ascontiguousarray(hdul[0].data, dtype=np.float32)
    mask = ~np.isfinite(data)
    data[mask] = 0.0
    sep.set_extract_pixstack(10_000_000)
    sep.set_sub_object_limit(4096)
    run(data, mask)  # warm-up
    if a.serve:
        print(json.dumps({"ready": sep.__version__}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                continue
            b, e, n = run(data, mask)
            print(
                json.dumps({"background_ms": b, "extract_ms": e, "total_ms": b + e, "sources": n}),
                flush=True,
            )
        return
    bg, ex, n = [], [], 0
    for _ in range(a.reps):
        b, e, n = run(data, mask)
        bg.append(b)
        ex.append(e)
    tot = [b + e for b, e in zip(bg, ex)]
    print(
        json.dumps(
            {
                "sep_version": sep.__version__,
                "background_ms": float(np.median(bg)),
                "extract_ms": float(np.median(ex)),
                "total_ms": float(np.median(tot)),
                "sources": n,
                "reps": a.reps,
            }
        )
    )


if __name__ == "__main__":
    main()
