"""What P1's notebooks feed the results runner (Kantamneni et al. 2025): the profile's datasets,
their last-token residuals at the main layer and the codes of the main-layer SAEs, plus the split
rule of each regime with the profile's grid.

:func:`load_features` returns a :class:`P1Features`, which is the runner's ``features(dataset,
source, ood=False)`` callable; :func:`regime_splits` is its ``splits(dataset)`` callable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from saeprobe import saes as saes_pkg
from saeprobe.core import data
from saeprobe.core.activations import dataset_activations
from saeprobe.p1 import splits as S

__all__ = ["main_sae_specs", "P1Features", "load_features", "regime_splits", "usable_datasets"]


def main_sae_specs(profile) -> list:
    """The SAEs P1's pages probe with: seed 0, at the main layer, of the architectures in
    ``p1.sae_archs`` (None: every one) and of TopK-family ``k == p1.sae_k`` (None: any), in the
    profile's order."""
    archs, k = profile.p1.sae_archs, profile.p1.sae_k
    return [s for s in saes_pkg.sae_specs(profile) if s.seed == 0 and s.layer in (None, profile.main_layer)
            and (not archs or s.arch in archs) and (k is None or s.k == k)]


@dataclass
class P1Features:
    """Features of P1's datasets. Call it as ``features(dataset, source, ood=False)`` -> ``X``:
    ``source="resid"`` gives the last-token residual ``[n_rows, d_model]`` (numpy), an SAE name its
    codes ``[n_rows, d_sae]`` (scipy CSR). ``datasets`` / ``labels`` hold the in-distribution rows,
    ``ood_labels`` the OOD files' labels (when loaded)."""

    profile: Any
    saes: dict = field(default_factory=dict)
    datasets: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    ood_labels: dict = field(default_factory=dict)
    _feats: dict = field(default_factory=dict, repr=False)

    def __call__(self, dataset: str, source: str, ood: bool = False):
        try:
            return self._feats[(dataset, source, bool(ood))]
        except KeyError:
            raise KeyError(f"no {'OOD ' if ood else ''}features {source!r} for {dataset!r}; loaded: "
                           f"{sorted({k[1] for k in self._feats})} for {len(self.datasets)} datasets") from None


def load_features(profile, names: Sequence[str], *, ood: bool = False, saes: dict | None = None,
                  progress: bool = False) -> P1Features:
    """Last-token residuals (cached) and SAE codes of ``names`` (and of their OOD files with ``ood``).

    ``saes``: ``{name: sae}`` (default: :func:`main_sae_specs`, trained or loaded from the cache).
    """
    if saes is None:
        saes = {s.name: saes_pkg.get_sae(profile, s, progress=progress) for s in main_sae_specs(profile)}
    out = P1Features(profile, dict(saes))
    for name in names:
        ds = data.load_dataset(name, max_rows=profile.max_rows, seed=profile.seed)
        out.datasets[name] = ds
        out.labels[name] = np.asarray(ds.labels)
        parts = [(False, dataset_activations(profile, name, progress=progress))]
        if ood:
            out.ood_labels[name] = np.asarray(data.load_ood(name).labels)
            parts.append((True, dataset_activations(profile, name, ood=True, progress=progress)))
        for is_ood, X in parts:
            out._feats[(name, "resid", is_ood)] = X.numpy()
            for sname, sae in saes.items():
                out._feats[(name, sname, is_ood)] = saes_pkg.encode(sae, X)
    return out


def regime_splits(profile, regime: str, feats: P1Features, *, dedup: bool = False) -> Callable[[str], list]:
    """``splits(dataset) -> list[Split]`` of one regime with the profile's grid (``p1.scarcity_sizes``,
    ``imbalance_fracs``, ``noise_fracs``; None = P1's whole grid) and ``p1.min_test``."""
    p1, seed = profile.p1, profile.seed

    def splits(dataset: str) -> list:
        y = feats.labels[dataset]
        if regime == "standard":
            return [S.standard_split(feats.datasets[dataset] if dedup else y, seed=seed, dedup=dedup,
                                     min_test=p1.min_test)]
        if regime == "scarcity":
            return S.scarcity_splits(y, p1.scarcity_sizes, seed=seed, min_test=p1.min_test)
        if regime == "imbalance":
            return S.imbalance_splits(y, p1.imbalance_fracs, seed=seed, min_test=p1.min_test)
        if regime == "label_noise":
            return S.label_noise_splits(y, p1.noise_fracs, seed=seed, min_test=p1.min_test)
        if regime == "ood":
            return [S.ood_split(y, feats.ood_labels[dataset], seed=seed)]
        raise ValueError(f"unknown regime {regime!r}; use one of {', '.join(S.REGIMES)}")

    return splits


def usable_datasets(names: Sequence[str], splits: Callable[[str], list]) -> tuple[list[str], list[tuple[str, str]]]:
    """``(usable, skipped)``: the datasets P1's split rules accept, and ``(name, reason)`` for the
    others (e.g. the imbalance regime needs ~200 balanced rows)."""
    usable, skipped = [], []
    for name in names:
        try:
            splits(name)
            usable.append(name)
        except ValueError as exc:
            skipped.append((name, str(exc)))
    return usable, skipped
