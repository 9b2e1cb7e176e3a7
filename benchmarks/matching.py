"""Time and memory of P2's Hungarian matching (``saeprobe.p2.matching.match``) against the SAE width.

    nice python benchmarks/matching.py                       # 1k .. 16k, both cases, 2 min cap per case
    nice python benchmarks/matching.py --bench 1024 4096     # quick

Two synthetic cases per width (d_in 640): "related" (B a row-permuted, noise-perturbed copy of A,
about half the latents shared -- the regime of real seed pairs) and "unrelated" (two independent
random SAEs, the solver's hard case). The shortest-augmenting-path solver is O(n^3) in the worst
case; the cost buffer is ``8 * n^2`` bytes (float64), so about 50k latents is the largest square
width that fits in 24 GB with room to spare. ``MEASURED`` below is what this script printed on this
project's 2-core machine; ``estimate_cost`` extrapolates it with a power-law fit.
"""
from __future__ import annotations

import argparse
import math
import resource
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from saeprobe.p2.matching import match

#: Wall-clock seconds of :func:`match` (decoder + encoder, both solves and cost matrices) measured
#: on this project's CPU machine (2 cores shared with other jobs, ``nice``), d_in = 640.
#: "related": B is a row-permuted, noise-perturbed copy of A (about half the latents shared — the
#: regime of real seed pairs); "unrelated": two independent random SAEs (the hard case).
#: Filled from ``python benchmarks/matching.py --bench``; ``None`` = not measured (over 2 minutes).
#: Peak RSS of the 16k run: 2.85 GB (buffer 2.15 GB) — consistent with 8 bytes/pair.
#: At 16k about 14 s of the "related" time is the two 16k x 16k x 640 matmuls, not the solver.
MEASURED: dict[str, dict[int, float | None]] = {
    "related": {1024: 0.04, 2048: 0.16, 4096: 0.61, 8192: 4.33, 16384: 21.8},
    "unrelated": {1024: 0.12, 2048: 0.53, 4096: 2.86, 8192: 53.0, 16384: None},
}


def max_width(mem_bytes: float = 24e9, *, reserve_bytes: float = 4e9) -> int:
    """Largest square width whose float64 cost buffer fits in ``mem_bytes - reserve_bytes``."""
    return int(math.sqrt(max(mem_bytes - reserve_bytes, 0) / 8))


def estimate_cost(n: int, *, case: str = "related") -> dict[str, float]:
    """Peak buffer bytes and extrapolated seconds for matching two width-``n`` SAEs.

    Seconds are a power-law fit ``t = c * n**p`` to :data:`MEASURED[case]` (needs ≥ 2 points).
    """
    pts = [(k, v) for k, v in MEASURED.get(case, {}).items() if v]
    sec = float("nan")
    exponent = float("nan")
    if len(pts) >= 2:
        x = np.log([p[0] for p in pts])
        y = np.log([p[1] for p in pts])
        exponent, logc = np.polyfit(x, y, 1)
        sec = float(np.exp(logc) * n**exponent)
    return {"n": n, "buffer_bytes": 8.0 * n * n, "seconds": sec, "exponent": float(exponent)}


def _bench(widths: Sequence[int], d_in: int = 640, noise: float = 2.0, limit_s: float = 120.0) -> pd.DataFrame:
    """Time :func:`match` on synthetic SAEs (run with ``nice``). Returns one row per (case, width)."""
    rows = []
    for case in ("related", "unrelated"):
        last = 0.0
        for n in widths:
            if last and last * 8.5 > limit_s:  # O(n^3): doubling n ~ 8x time
                rows.append({"case": case, "n": n, "seconds": None, "note": f"skipped, projected > {limit_s:.0f}s"})
                continue
            rng = np.random.default_rng(n)
            dec = rng.standard_normal((n, d_in), dtype=np.float32)
            enc = dec.T + 0.1 * rng.standard_normal((d_in, n), dtype=np.float32)
            if case == "related":
                perm = rng.permutation(n)
                # half the latents barely moved (cos ~0.96), half far off (cos ~0.45): ~50% shared
                scale = np.where(rng.random(n) < 0.5, 0.3, noise).astype(np.float32)
                dec_b = dec[perm] + scale[perm, None] * rng.standard_normal((n, d_in), dtype=np.float32)
                enc_b = enc[:, perm] + scale[None, perm] * rng.standard_normal((d_in, n), dtype=np.float32)
            else:
                dec_b = rng.standard_normal((n, d_in), dtype=np.float32)
                enc_b = rng.standard_normal((d_in, n), dtype=np.float32)
            r = match((dec, enc), (dec_b, enc_b))
            last = r.seconds
            rows.append({"case": case, "n": n, "seconds": round(r.seconds, 2),
                         "shared": round(r.shared_fraction, 3), "shared_decoder": round(r.decoder_shared_fraction, 3),
                         "maxrss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark saeprobe.p2.matching (use nice).")
    ap.add_argument("--bench", type=int, nargs="*", default=[1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--estimate", type=int, nargs="*", default=[32768, 65536, 131072],
                    help="widths to extrapolate MEASURED to")
    args = ap.parse_args(argv)
    print(_bench(args.bench, limit_s=args.limit).to_string())
    print(f"largest width whose cost buffer fits in 24 GB: {max_width():,}")
    for n in args.estimate:
        print(estimate_cost(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
