"""P2's other axes (Paulo & Belrose 2025 find seed-dependence "across multiple layers of three
different LLMs, two datasets, and several SAE architectures"): seed groups of one SAE at every layer,
on two training corpora of disjoint source families, and on P2's own models (hub only).

* :func:`layer_groups` / :func:`corpus_groups` -- the SAE specs of each axis point, one per seed
  (``p2.axes``; trained on the main SAEs' recipe via :func:`saeprobe.saes.specs.entry_spec`, so a
  spec that ``sae.saes`` already lists is that cached SAE);
* :func:`axis_row` -- a group's shared fractions with CIs over seed pairs (as page 30 reports them);
* :func:`minority_verdict` -- the sentence on whether sharing is a minority at every point of an axis;
* :func:`hub_model_pair` -- P2's own models: token activations of a TransformerLens model at P2's
  hook, a seed group trained on them and matched (needs the hub for the model).
"""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from saeprobe.core import data
from saeprobe.core.activations import iter_token_acts
from saeprobe.p2.seeds import multi_seed, pair_summary
from saeprobe.saes.corpus import corpus_settings, training_texts
from saeprobe.saes.families import family_split
from saeprobe.saes.specs import SAESpec, entry_spec
from saeprobe.saes.train import train_sae

__all__ = ["layer_groups", "corpus_groups", "axis_row", "minority_verdict", "model_texts", "hub_model_pair"]


def _seed_specs(profile: Any, **kw: Any) -> list[SAESpec]:
    ax = profile.p2.axes
    return [entry_spec(profile, ax.sae, base=ax.entry, seed=int(s), **kw) for s in ax.seeds]


def layer_groups(profile: Any) -> dict[int, list[SAESpec]]:
    """``{layer: [spec per seed]}`` for ``p2.axes.layers`` (None: every profile layer); empty when
    ``p2.axes.sae`` is None."""
    ax = profile.p2.axes
    if ax.sae is None:
        return {}
    layers = ax.layers if ax.layers is not None else profile.layers
    return {int(layer): _seed_specs(profile, layer=int(layer)) for layer in layers}


def corpus_groups(profile: Any, corpus: Any = None) -> tuple[dict[str, list[SAESpec]], dict[str, tuple[str, ...]]]:
    """``({"A": specs, "B": specs}, {"A": families, "B": families})`` at the main layer: the seed group
    trained only on corpus A's source families and the one trained only on B's
    (:func:`saeprobe.saes.families.family_split` of ``corpus``, the main layer's
    :class:`~saeprobe.saes.corpus.TokenCorpus`, unless ``p2.axes.families_a`` names A). Empty when
    ``p2.axes.sae`` is None or ``p2.axes.corpora`` is false."""
    ax = profile.p2.axes
    if ax.sae is None or not ax.corpora:
        return {}, {}
    a, b = family_split(profile, corpus, ax.families_a)
    fams = {"A": a, "B": b}
    return {k: _seed_specs(profile, train_families=v) for k, v in fams.items()}, fams


def axis_row(saes: Sequence[Any], *, threshold: float, cache_dir: Any = None, n_boot: int = 2000,
             seed: int = 42) -> dict:
    """Every seed pair of ``saes`` matched (:func:`saeprobe.p2.seeds.multi_seed`): the means over pairs
    of ``shared`` (decoder AND encoder > threshold), ``shared_decoder``, ``agreement`` and the mean
    matched cosines, each with a 95 % bootstrap CI over pairs (``_lo`` / ``_hi``; one pair: NaN), plus
    ``n_pairs`` and ``orphan_frac`` (latents in no other seed)."""
    res = multi_seed(list(saes), threshold=threshold, cache_dir=cache_dir, progress=False)
    return {**pair_summary(res.pairs, n_boot=n_boot, seed=seed), "orphan_frac": res.orphan_fraction,
            "n_seeds": len(saes)}


def minority_verdict(rows: pd.DataFrame, *, what: str, col: str = "shared") -> tuple[str, bool | None]:
    """Is sharing a minority (below one half) at every point of an axis? ``rows``: one row per point
    with ``point``, ``col``, ``col_lo``, ``col_hi``. Returns ``(sentence, True | False | None)``:
    True when every point's CI lies below 0.5, False when any point's CI lies above it, else None."""
    if rows.empty:
        return f"Not measured on this profile ({what}).", None
    lo, hi = rows[f"{col}_lo"], rows[f"{col}_hi"]
    pts = ", ".join(f"{p}: {v:.3f} [{a:.3f}, {b:.3f}]" for p, v, a, b in zip(rows["point"], rows[col], lo, hi))
    if (hi < 0.5).all():
        return f"Sharing is a **minority at every {what}** (each 95 % CI below one half; {pts}).", True
    above = rows.loc[lo > 0.5, "point"].tolist()
    if above:
        return (f"Sharing is **not** a minority at every {what}: a majority is shared at {', '.join(map(str, above))} "
                f"(CI above one half; {pts})."), False
    open_ = rows.loc[~(hi < 0.5), "point"].tolist()
    return (f"Sharing is below one half at every {what} only where the CIs allow it: at {', '.join(map(str, open_))} "
            f"the CI reaches one half or is undefined, so it is **undetermined** ({pts})."), None


def model_texts(profile: Any) -> tuple[list[str], str]:
    """Texts for the hub models' SAEs and where they come from: the profile's SAE corpus texts, or --
    when the profile evaluates on every binary dataset (no free corpus) -- every P1 binary dataset's
    texts (P2 probes nothing, so no evaluation can leak)."""
    try:
        texts, _ = training_texts(profile)
        return texts, "the profile's SAE corpus (P1 binary datasets outside the evaluation subset)"
    except ValueError:
        seen: set[str] = set()
        texts = [t for n in data.list_datasets("binary") for t in data.load_dataset(n).texts
                 if t.strip() and not (t in seen or seen.add(t))]
        texts.sort()
        random.Random(profile.seed).shuffle(texts)
        return texts, "every P1 binary dataset (the profile leaves no text outside its evaluation)"


def hub_model_pair(profile: Any, model: Any, hook: str, texts: Sequence[str], *, tokens: int,
                   progress: bool = False) -> dict:
    """P2's setting on another model: ``tokens`` non-BOS token activations of ``model`` at ``hook``
    (``[N, d_model]``) from ``texts``, the ``p2.axes`` SAE trained with each of ``p2.axes.seeds``
    (budget: the main SAE's tokens seen) and every pair matched -> :func:`axis_row`'s dict plus
    ``n_tokens`` and ``d_in``."""
    ax, c = profile.p2.axes, corpus_settings(profile)
    rows, n = [], 0
    for _, a, _ in iter_token_acts(model, list(texts), hook, max_len=int(c.max_len), batch_size=int(c.batch_size),
                                   progress=progress):
        rows.append(a)
        n += a.shape[0]
        if n >= tokens:
            break
    acts = torch.cat(rows)[: int(tokens)].float()
    out = []
    for spec in _seed_specs(profile):
        spec = replace(spec, layer=None)
        sae, _ = train_sae(spec, acts, hook=hook, model_name=str(model.cfg.model_name), data_seed=profile.seed,
                           progress=progress)
        out.append(sae)
    row = axis_row(out, threshold=float(profile.p2.threshold), n_boot=int(profile.p2.n_boot), seed=profile.seed)
    return {**row, "n_tokens": int(acts.shape[0]), "d_in": int(acts.shape[1])}
