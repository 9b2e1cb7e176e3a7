"""Peak memory and time of sparse SAE encoding at 1m width vs dense encoding.

    python benchmarks/sae_encode.py                 # 1m-wide random TopK SAE, d_in 640, 5000 vectors
    python benchmarks/sae_encode.py --width 65536 --n 1000   # quick

A random TopK SAE (sae-lens inference format, ``cfg.json`` + ``sae_weights.safetensors``) is
written to a temporary folder in streaming fashion (never all in memory). Then, each in a fresh
subprocess so peak RSS (``ru_maxrss``) is its own:

* **sparse**: ``saeprobe.saes.DiskEncoder`` streams ``W_enc`` in column blocks from the file and
  keeps a running top-k per row -> CSR ``[n, width]``. Only one block of weights and one block of
  pre-activations are in memory.
* **dense** (reference, the naive way): ``sae_lens.SAE.load_from_disk`` + ``sae.encode(x)``, which
  holds both weight matrices (2 x 4 x 640 x 1m bytes = 5.4 GB) and a dense ``[n, width]`` output.
  ``n`` x 1m x 4 bytes is 20 GB for 5000 vectors, more than this machine can spare, so the dense
  reference runs on ``--dense-n`` vectors (default 250) and its cost at ``n`` is extrapolated
  (linear in ``n``) — the output says so. The sparse result on those rows is checked against it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_random_topk_sae(folder: Path, width: int, d_in: int, k: int, seed: int = 0) -> None:
    """Stream a random TopK SAE in sae-lens format to ``folder`` (rows generated chunk by chunk)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    tensors = [("W_enc", (d_in, width)), ("W_dec", (width, d_in)), ("b_enc", (width,)), ("b_dec", (d_in,))]
    header, off = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(folder / "sae_weights.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for i in range(d_in):  # W_enc rows
            f.write((torch.randn(width, generator=g) / d_in**0.5).numpy().tobytes())
        # W_dec (unit-norm rows) is not read when encoding: one random block, repeated, keeps this fast
        step = min(65536, width)
        w = torch.randn(step, d_in, generator=g)
        block = (w / w.norm(dim=1, keepdim=True)).numpy()
        for a in range(0, width, step):
            f.write(block[: min(step, width - a)].tobytes())
        f.write(np.zeros(width, np.float32).tobytes())
        f.write(np.zeros(d_in, np.float32).tobytes())
    cfg = {"architecture": "topk", "d_in": d_in, "d_sae": width, "k": k, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "rescale_acts_by_decoder_norm": False,
           "reshape_activations": "none", "metadata": {"hook_name": "blocks.12.hook_resid_post"}}
    (folder / "cfg.json").write_text(json.dumps(cfg))


def _inputs(n: int, d_in: int) -> "np.ndarray":
    return np.random.default_rng(1).standard_normal((n, d_in)).astype(np.float32)


def child_sparse(folder: str, n: int, d_in: int, out: str) -> dict:
    import scipy.sparse as sp
    import torch

    from saeprobe.saes import DiskEncoder, encode

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    x = torch.from_numpy(_inputs(n, d_in))
    base = _rss_mb()
    t0 = time.perf_counter()
    m = encode(DiskEncoder(folder), x, mem_mb=256)
    dt = time.perf_counter() - t0
    sp.save_npz(out, m)
    return {"seconds": dt, "peak_rss_mb": _rss_mb(), "rss_before_mb": base, "nnz": int(m.nnz),
            "csr_mb": (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 2**20}


def child_dense(folder: str, n: int, d_in: int, sparse_npz: str) -> dict:
    import scipy.sparse as sp
    import torch
    from sae_lens import SAE

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    x = torch.from_numpy(_inputs(n, d_in))
    t0 = time.perf_counter()
    sae = SAE.load_from_disk(folder)
    t_load = time.perf_counter() - t0
    with torch.no_grad():
        dense = sae.encode(x)
    dt = time.perf_counter() - t0
    ref = sp.load_npz(sparse_npz)[:n].toarray()
    err = float(np.abs(ref - dense.numpy()).max())
    return {"seconds": dt, "load_seconds": t_load, "peak_rss_mb": _rss_mb(), "dense_mb": dense.numel() * 4 / 2**20,
            "max_abs_diff_vs_sparse": err}


def _run_child(kind: str, *args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1], "returncode": res.returncode}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=2**20)
    ap.add_argument("--d-in", type=int, default=640)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--dense-n", type=int, default=250)
    ap.add_argument("--dir", default=None, help="where to write the random SAE (default: a temp dir, removed)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        kind, *rest = a.child
        if kind == "sparse":
            print(json.dumps(child_sparse(rest[0], int(rest[1]), int(rest[2]), rest[3])))
        else:
            print(json.dumps(child_dense(rest[0], int(rest[1]), int(rest[2]), rest[3])))
        return 0
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        folder = Path(tmp) / "sae"
        t0 = time.perf_counter()
        write_random_topk_sae(folder, a.width, a.d_in, a.k)
        size = (folder / "sae_weights.safetensors").stat().st_size / 2**30
        print(f"random TopK SAE: width {a.width:,}, d_in {a.d_in}, k {a.k}; {size:.2f} GB on disk, "
              f"written in {time.perf_counter() - t0:.0f} s")
        npz = str(Path(tmp) / "sparse.npz")
        s = _run_child("sparse", folder, a.n, a.d_in, npz)
        if "error" in s:
            print("sparse encoding failed:", s["error"])
            return 1
        print(f"sparse (DiskEncoder -> CSR), n={a.n}: {s['seconds']:.1f} s, peak RSS {s['peak_rss_mb']:.0f} MB "
              f"(target < 2048), CSR {s['csr_mb']:.1f} MB, nnz {s['nnz']:,} (= n*k {a.n * a.k:,})")
        dn = min(a.dense_n, a.n)
        d = _run_child("dense", folder, dn, a.d_in, npz)
        if "error" in d:
            print(f"dense reference failed on n={dn}: {d['error']}")
            return 1
        scale = a.n / dn
        est_rss = d["peak_rss_mb"] + d["dense_mb"] * (scale - 1)
        est_s = d["load_seconds"] + (d["seconds"] - d["load_seconds"]) * scale
        print(f"dense (SAE.load_from_disk + encode), n={dn}: {d['seconds']:.1f} s (load {d['load_seconds']:.1f} s), "
              f"peak RSS {d['peak_rss_mb']:.0f} MB, dense output {d['dense_mb']:.0f} MB; "
              f"max |dense - sparse| = {d['max_abs_diff_vs_sparse']:.2e}")
        print(f"dense at n={a.n} is extrapolated (it would not fit alongside other jobs): "
              f"~{est_rss / 1024:.1f} GB peak RSS, ~{est_s:.0f} s")
        print(f"ratios (dense/sparse) at n={a.n}: peak RSS x{est_rss / s['peak_rss_mb']:.1f}, "
              f"time x{est_s / s['seconds']:.2f}; measured at n={dn}: peak RSS "
              f"x{d['peak_rss_mb'] / s['peak_rss_mb']:.1f} (sparse ran on {a.n} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
