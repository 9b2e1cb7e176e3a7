"""Seed replicas (P2, Paulo & Belrose 2025): which of the profile's SAEs differ only in their seed,
which group each page reports, and how many of the other seeds contain each latent.

* :func:`seed_groups` -- SAE specs that differ only in their seed, by group label;
* :func:`main_groups` -- the group each architecture's headline numbers come from (most seeds,
  then the widest; ties: the first) -- one rule for notebooks 30 and 31;
* :func:`multi_seed` / :class:`MultiSeedResult` -- every pair of seeds matched once;
* :func:`pair_summary` -- means over seed pairs with bootstrap CIs;
* :func:`match_cache_dir` -- where matchings are cached.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from saeprobe.core.config import no_bar
from saeprobe.core.stats import bootstrap_ci
from saeprobe.p2.matching import DEFAULT_BLOCK_ROWS, DEFAULT_THRESHOLD, match, weights

__all__ = ["seed_groups", "main_groups", "MultiSeedResult", "multi_seed", "pair_summary", "match_cache_dir"]


def match_cache_dir(profile) -> Path:
    """The folder of cached matchings (keyed by the SAEs' weights, so shared by every profile)."""
    return profile.home_dir / "p2" / "matches"


def _strip_seed(name: str) -> str:
    return re.sub(r"-s\d+(?=-|$)", "", name)


def seed_groups(specs: Sequence[Any], *, min_seeds: int = 2) -> dict[str, list[Any]]:
    """Group SAE specs (``saeprobe.saes.SAESpec``: ``name``, ``seed``, ``to_dict()``) that differ only
    in their seed -> ``{group label: [specs sorted by seed]}`` (groups with < ``min_seeds`` dropped).
    The label is the spec name without its ``-s<seed>`` part (e.g. ``topk-w4096-k32-L12``)."""
    groups: dict[tuple, list[Any]] = {}
    labels: dict[tuple, str] = {}
    for sp_ in specs:
        d = sp_.to_dict() if hasattr(sp_, "to_dict") else dict(sp_)
        key = tuple(sorted((k, repr(v)) for k, v in d.items() if k != "seed"))
        groups.setdefault(key, []).append(sp_)
        labels[key] = _strip_seed(getattr(sp_, "name", str(d)))
    return {labels[k]: sorted(v, key=lambda x: x.seed) for k, v in groups.items() if len(v) >= min_seeds}


def main_groups(groups: dict[str, list[Any]], archs: Sequence[str] | None = None) -> dict[str, str]:
    """``{architecture: group label}``: per architecture (of ``archs``; None: all) the group with the
    most seeds, then the widest SAEs; among equals the first in ``groups``' order."""
    out: dict[str, str] = {}
    for label, g in groups.items():
        arch = g[0].arch
        if archs and arch not in archs:
            continue
        cur = out.get(arch)
        if cur is None or (len(g), g[0].width) > (len(groups[cur]), groups[cur][0].width):
            out[arch] = label
    return out


@dataclass(frozen=True)
class MultiSeedResult:
    """P2's multi-seed analysis: for each latent of each SAE, how many of the OTHER SAEs contain it.

    Attributes:
        counts: list (one per SAE) of ``[d_sae_i]`` int arrays with values in ``0 .. n_saes-1``.
        pairs: DataFrame, one row per unordered pair (``i``, ``j``) with :meth:`MatchResult.summary`.
        definition: ``"both"`` (decoder AND encoder) or ``"decoder"``.
        threshold: cosine threshold.
    """

    counts: list[np.ndarray]
    pairs: pd.DataFrame
    definition: str
    threshold: float
    labels: list[str] = field(default_factory=list)

    @property
    def n_saes(self) -> int:
        return len(self.counts)

    @property
    def orphan_fraction(self) -> float:
        """Mean over SAEs of the fraction of latents found in no other SAE (P2: 35% with 9 seeds)."""
        return float(np.mean([(c == 0).mean() for c in self.counts]))

    @property
    def everywhere_fraction(self) -> float:
        """Mean over SAEs of the fraction of latents found in every other SAE."""
        return float(np.mean([(c == self.n_saes - 1).mean() for c in self.counts]))

    def histogram(self) -> pd.DataFrame:
        """Rows ``k = 0 .. n_saes-1`` ("in k other SAEs"); one column per SAE (fraction of its
        latents) plus ``mean``."""
        ks = np.arange(self.n_saes)
        labels = self.labels or [str(i) for i in range(self.n_saes)]
        df = pd.DataFrame(
            {lab: np.bincount(c, minlength=self.n_saes)[: self.n_saes] / len(c) for lab, c in zip(labels, self.counts)},
            index=pd.Index(ks, name="in_k_others"),
        )
        df["mean"] = df.mean(axis=1)
        return df


def multi_seed(
    saes: Sequence[Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    definition: str = "both",
    labels: Sequence[str] | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    candidates: int | None = None,
    device: str | None = None,
    cache_dir: str | Any | None = None,
    progress: bool = True,
) -> MultiSeedResult:
    """For every latent of every SAE, count the other SAEs that contain it (one matching per
    unordered pair, ``n(n-1)/2`` in all; the reverse direction is read off the same assignment).

    Args:
        saes: two or more SAEs (anything :func:`match` accepts), same ``d_in``.
        definition: ``"both"`` = decoder AND encoder cosine > threshold, ``"decoder"`` = decoder only.
        labels: optional names (e.g. ``"seed0"``) used in ``pairs`` and :meth:`MultiSeedResult.histogram`.
        candidates, device, cache_dir: as in :func:`match`.
    """
    if definition not in ("both", "decoder"):
        raise ValueError(f"definition must be 'both' or 'decoder', got {definition!r}")
    if len(saes) < 2:
        raise ValueError(f"multi_seed needs at least 2 SAEs, got {len(saes)}")
    if labels is not None and len(labels) != len(saes):
        raise ValueError(f"got {len(labels)} labels for {len(saes)} SAEs")
    ws = [weights(s, f"SAE {i}") for i, s in enumerate(saes)]
    counts = [np.zeros(w[0].shape[0], dtype=np.int64) for w in ws]
    pairs = [(i, j) for i in range(len(saes)) for j in range(i + 1, len(saes))]
    rows = []
    for i, j in tqdm(pairs, desc="matching pairs", disable=no_bar(progress)):
        r = match(ws[i], ws[j], threshold=threshold, encoder=definition == "both", block_rows=block_rows,
                  candidates=candidates, device=device, cache_dir=cache_dir)
        fwd = r.shared() if definition == "both" else r.shared_decoder()
        rev = r.reversed()
        bwd = rev.shared() if definition == "both" else rev.shared_decoder()
        counts[i] += fwd
        counts[j] += bwd
        rows.append({"i": i, "j": j, **({"label_i": labels[i], "label_j": labels[j]} if labels else {}), **r.summary()})
    return MultiSeedResult(counts, pd.DataFrame(rows), definition, float(threshold), list(labels or []))


def pair_summary(pairs: pd.DataFrame, *, columns: Sequence[str] = ("shared", "shared_decoder", "agreement",
                 "mean_decoder_cos", "mean_encoder_cos"), n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean and bootstrap CI (over seed pairs) of each column of a ``MultiSeedResult.pairs`` table ->
    ``{col: mean, col_lo: ..., col_hi: ..., "n_pairs": ...}`` (one pair: NaN interval)."""
    out: dict[str, float] = {"n_pairs": int(len(pairs))}
    for c in columns:
        if c in pairs:
            out[c], out[f"{c}_lo"], out[f"{c}_hi"] = bootstrap_ci(pairs[c].to_numpy(float), n_boot=n_boot, seed=seed,
                                                                  allow_empty=True)
    return out
