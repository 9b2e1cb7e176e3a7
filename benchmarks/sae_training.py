"""Which SAE training recipe gives the most CE loss recovered per CPU-second on this machine?

    python benchmarks/sae_training.py                                   # the default sweep (~45 min, 2 idle cores)
    python benchmarks/sae_training.py --widths 4096 --ks 64 --recipes base,lr_1e-3 --max-tokens 300000

For each (width, k, recipe) one TopK-family SAE is trained on the profile's cached SAE corpus at the
main layer (``saeprobe.saes.token_corpus``; ``--corpus-tokens`` builds a larger corpus of fresh
tokens, else the cached one is cycled in epochs) up to ``--max-tokens`` tokens seen, and measured
at each of ``--checkpoints`` tokens with ``saeprobe.saes.quality`` on the profile's held-out texts
(FVE, L0, dead latents, CE loss recovered with a bootstrap CI over texts). The learning rate decays
over the last ``lr_decay_frac`` of the *whole* run, so checkpoints before that are at the recipe's
peak LR (column ``decayed``); the last row of a run is the recipe as trained.

The reference, measured in the same run, is the ``base`` recipe (the profile's ``sae.train``) at
the first width/k and the profile's own token budget; every row prints its CE recovered minus the
reference's and its training time over the reference's. Writes ``benchmarks/results/sae_training.csv``
and a plot of CE recovered and FVE against tokens seen and against training seconds.
Time it on an idle machine: torch's 2 intra-op threads slow 2-3x when another process shares the cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

RECIPES = {  # SAESpec overrides on top of the profile's sae.train
    "base": {},
    "lr_1e-3": {"lr": 1e-3},
    "lr_1e-2": {"lr": 1e-2},
    "bs_256": {"batch_size": 256},
    "bs_256_lr_1e-3": {"batch_size": 256, "lr": 1e-3},
    "bs_4096": {"batch_size": 4096},
    "bs_4096_lr_1e-2": {"batch_size": 4096, "lr": 1e-2},
    "no_decay": {"lr_decay_frac": 0.0},
    "no_aux": {"aux_coefficient": 0.0},
    "dec_init_1": {"decoder_init_norm": 1.0},
    "batchtopk": {"arch": "batchtopk"},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--layer", type=int, default=None, help="default: the profile's main layer")
    ap.add_argument("--widths", type=int, nargs="+", default=[4096])
    ap.add_argument("--ks", type=int, nargs="+", default=[64])
    ap.add_argument("--recipes", default="base,lr_1e-3,lr_1e-2,bs_4096,no_aux,batchtopk")
    ap.add_argument("--max-tokens", type=int, default=600_000)
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[75_000, 150_000, 300_000, 600_000])
    ap.add_argument("--corpus-tokens", type=int, default=None, help="fresh corpus tokens (default: the profile's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sae_training.csv"))
    a = ap.parse_args(argv)

    import pandas as pd
    import torch

    from saeprobe import load_profile
    from saeprobe.core.models import load_profile_model
    from saeprobe.saes import SAESpec, quality, token_corpus
    from saeprobe.saes.train import train_sae

    torch.set_num_threads(a.threads)
    unknown = [r for r in a.recipes.split(",") if r not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; choose from {sorted(RECIPES)}")
    over = {} if a.corpus_tokens is None else {"sae": {"corpus": {"tokens": a.corpus_tokens}}}
    prof = load_profile(a.profile, **over)
    layer = prof.main_layer if a.layer is None else a.layer
    hook = prof.hook_name(layer)
    model = load_profile_model(prof)
    t0 = time.perf_counter()
    corpus = token_corpus(prof, [hook], model, progress=True)[hook]
    print(f"corpus: {corpus.train.shape[0]:,} training + {corpus.test.shape[0]:,} held-out tokens at {hook} "
          f"({time.perf_counter() - t0:.0f} s to build or load)", flush=True)
    c = prof.sae.corpus
    train = prof.sae.train
    rows = []
    for width in a.widths:
        for k in a.ks:
            for recipe in a.recipes.split(","):
                kw = {**{f: getattr(train, f) for f in ("batch_size", "lr", "lr_decay_frac", "warmup_steps",
                                                         "dead_window", "aux_coefficient", "decoder_init_norm")},
                      "arch": "topk", **RECIPES[recipe]}
                spec = SAESpec(width=width, k=k, tokens=a.max_tokens, seed=0, layer=layer, **kw)
                cpu0, evals = time.process_time(), [0.0]
                decay_start = a.max_tokens * (1 - spec.lr_decay_frac)

                def measure(tokens, sae, train_s, spec=spec, recipe=recipe, cpu0=cpu0, evals=evals):
                    cpu_at = time.process_time() - cpu0 - evals[0]
                    e0 = time.process_time()
                    q = quality(sae, corpus, model, ce_texts=c.ce_texts, ce_max_len=c.ce_max_len,
                                seed=prof.seed)
                    evals[0] += time.process_time() - e0
                    row = dict(width=width, k=k, recipe=recipe, arch=spec.arch, lr=spec.lr, batch_size=spec.batch_size,
                               tokens_seen=tokens, epochs=tokens / corpus.train.shape[0], decayed=tokens > decay_start,
                               train_s=round(train_s, 1), cpu_s=round(cpu_at, 1),
                               **{m: q[m] for m in ("fve", "l0", "dead_frac", "ce_recovered", "ce_recovered_lo",
                                                    "ce_recovered_hi", "ce_delta", "n_ce_tokens")})
                    rows.append(row)
                    _partial(rows, a.out)  # a killed run keeps what it measured
                    print(f"  {recipe:16s} w{width} k{k} {tokens:>9,} tok {row['train_s']:>7.1f} s  FVE {row['fve']:.3f}  "
                          f"CE rec {row['ce_recovered']:.3f} [{row['ce_recovered_lo']:.3f}, {row['ce_recovered_hi']:.3f}]  "
                          f"L0 {row['l0']:.1f} dead {row['dead_frac']:.3f}", flush=True)

                train_sae(replace(spec), corpus.train, hook=hook, model_name=prof.model, data_seed=prof.seed,
                          progress=False, checkpoints=a.checkpoints + [a.max_tokens // spec.batch_size * spec.batch_size],
                          on_checkpoint=measure)
    df = pd.DataFrame(rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    budget = (prof.sae.saes[0].tokens if prof.sae.saes and prof.sae.saes[0].tokens else prof.sae.train.tokens)
    ref_tokens = min(set(df.tokens_seen), key=lambda t: abs(t - budget))  # the profile's own budget
    ref = df[(df.recipe == "base") & (df.width == a.widths[0]) & (df.k == a.ks[0]) & (df.tokens_seen == ref_tokens)]
    if len(ref):
        r = ref.iloc[0]
        df["ce_vs_ref"] = df.ce_recovered - r.ce_recovered
        df["time_vs_ref"] = df.train_s / r.train_s
        print(f"\nreference: base recipe, width {r.width}, k {r.k}, {int(r.tokens_seen):,} tokens: CE recovered "
              f"{r.ce_recovered:.3f}, FVE {r.fve:.3f}, {r.train_s:.0f} s")
    cols = [c for c in ("recipe", "width", "k", "tokens_seen", "decayed", "train_s", "fve", "ce_recovered",
                        "ce_recovered_lo", "ce_recovered_hi", "l0", "dead_frac", "ce_vs_ref", "time_vs_ref") if c in df]
    print(df[cols].round(3).to_string(index=False))
    _plot(df, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def _partial(rows, out):
    """Write the rows measured so far (atomically: temp file + rename) to ``<out>.partial.csv``."""
    import pandas as pd

    path = Path(out).with_suffix(".partial.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, path)


def _plot(df, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey="row")
    for (recipe, width, k), g in df.groupby(["recipe", "width", "k"]):
        lab = f"{recipe} w{width} k{k}"
        for row, metric in enumerate(("ce_recovered", "fve")):
            axes[row, 0].plot(g.tokens_seen, g[metric], marker="o", label=lab)
            axes[row, 1].plot(g.train_s, g[metric], marker="o", label=lab)
    for row, metric in enumerate(("CE loss recovered", "FVE")):
        axes[row, 0].set_ylabel(metric)
        for col in (0, 1):
            axes[row, col].set_xscale("log")
            axes[row, col].axhline(0.85 if row == 0 else 0.80, color="grey", ls=":", lw=0.8)
    axes[1, 0].set_xlabel("tokens seen")
    axes[1, 1].set_xlabel("training seconds (2 cores)")
    axes[0, 1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
