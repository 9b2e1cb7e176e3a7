"""Extraction throughput: saeprobe's extractor vs the sae-probes way vs the machine's FLOP bound.

On the same ~500 texts (a fixed, seeded mix of the profile's datasets) and the profile's model:

(a) ``saeprobe.core.activations.extract``: length-sorted batches under a padded-token budget
    (``CPU_MAX_PADDED_TOKENS`` on CPU), BOS kept on truncation, ``stop_at_layer``, inference mode;
(b) the sae-probes way: the package's own ``_process_activations`` (TransformerLens
    ``run_with_cache``, batch 32, right padding, no length sort, ``max_seq_len`` 1024) —
    called from the installed ``sae-probes`` package;
(c) the FLOP bound: FLOPs per token of the blocks that run, divided into the fp32 matmul rate
    measured on this machine in the same run.

Prints tokens/s for each and the ratios a/b and a/c. Usage::

    python benchmarks/extraction.py [--profile cpu] [--n 500] [--max-len 1024]
"""
from __future__ import annotations

import argparse
import time

import torch


def sample_texts(profile, n: int) -> list[str]:
    """``n`` texts: an equal, seeded share of every dataset of the profile (deterministic)."""
    from saeprobe.core import data

    names = profile.dataset_names()
    per = -(-n // len(names))
    texts = []
    for name in names:
        texts += data.load_dataset(name, max_rows=max(2 * per, 4), seed=profile.seed).texts[:per]
    return texts[:n]


def matmul_flops_per_s(d: int = 2048, reps: int = 10) -> float:
    """Achieved fp32 GEMM FLOP/s on this machine (the compute ceiling for the forward pass)."""
    a, b = torch.randn(d, d), torch.randn(d, d)
    a @ b  # warm up
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * d**3 * reps / (time.perf_counter() - t0)


def flops_per_token(model, stop_at_layer: int, mean_len: float) -> float:
    """Forward FLOPs per token through ``stop_at_layer`` blocks: 2 x matmul params + attention."""
    params = 0
    for block in model.blocks[:stop_at_layer]:
        params += sum(p.numel() for n, p in block.named_parameters() if p.dim() >= 2)
    cfg = model.cfg
    attn = 2 * 2 * mean_len * cfg.n_heads * cfg.d_head * stop_at_layer  # QK^T and AV, causal ~ half of T
    return 2 * params + attn


def time_it(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--max-len", type=int, default=1024, help="context cap for both methods (P1: 1024)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    from saeprobe import load_profile
    from saeprobe.core.activations import _default_budget, extract, hook_layer, tokenize
    from saeprobe.core.models import load_profile_model

    profile = load_profile(args.profile)
    model = load_profile_model(profile)
    hook = profile.hook_name()
    texts = sample_texts(profile, args.n)
    n_tokens = sum(len(r) for r in tokenize(model, texts, args.max_len))
    stop = hook_layer(model, hook) + 1
    print(f"model {profile.model}  hook {hook}  texts {len(texts)}  real tokens {n_tokens} "
          f"(mean {n_tokens / len(texts):.1f})  torch threads {torch.get_num_threads()}  batch {args.batch_size} "
          f"rows, ours also <= {_default_budget(next(model.parameters()).device)} padded tokens")

    # warm-up (first-call allocations, tokenizer caches) on a few texts
    extract(model, texts[:8], hook, max_len=args.max_len, batch_size=8, reducers=["last"], progress=False)

    t_ours = time_it(lambda: extract(model, texts, hook, max_len=args.max_len, batch_size=args.batch_size,
                                     reducers=["last"], progress=False))
    ours = extract(model, texts, hook, max_len=args.max_len, batch_size=args.batch_size,
                   reducers=["last"], progress=False)[hook]["last"]

    try:
        from sae_probes.generate_model_activations import _process_activations
        ref_name = "sae-probes 0.4.2 _process_activations (installed package)"
    except ImportError:  # pragma: no cover - the package is a dependency
        raise SystemExit("sae-probes is not installed: pip install sae-probes==0.4.2")
    box = {}
    t_ref = time_it(lambda: box.update(_process_activations(
        model=model, texts=texts, batch_size=args.batch_size, max_seq_len=args.max_len,
        hook_names=[hook], max_layer=None, device=str(next(model.parameters()).device))))
    ref = box[hook]
    fits = [i for i, r in enumerate(tokenize(model, texts, 10**9)) if len(r) <= args.max_len]
    agree = (ours[fits] - ref[fits].float()).abs().max().item() / ref[fits].float().abs().max().item()

    flops = matmul_flops_per_s()
    fpt = flops_per_token(model, stop, n_tokens / len(texts))
    bound = flops / fpt

    r_ours, r_ref = n_tokens / t_ours, n_tokens / t_ref
    print(f"(a) saeprobe extract        {r_ours:10.0f} tok/s  ({t_ours:.1f} s)")
    print(f"(b) {ref_name:<24} {r_ref:10.0f} tok/s  ({t_ref:.1f} s)")
    print(f"(c) FLOP bound              {bound:10.0f} tok/s  (matmul {flops / 1e9:.1f} GFLOP/s, "
          f"{fpt / 1e6:.1f} MFLOP/token through {stop} blocks)")
    print(f"ratio a/b = {r_ours / r_ref:.2f}x   (target >= 3x)")
    print(f"ratio a/c = {r_ours / bound:.2f}  (fraction of the FLOP bound)")
    print(f"same vectors: max rel diff {agree:.2e} over {len(fits)} texts that fit in {args.max_len} tokens")


if __name__ == "__main__":
    main()
