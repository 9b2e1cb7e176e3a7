"""A P1 probe on your own texts, in one call (Kantamneni et al. 2025's protocol, your data).

:func:`fit_probe` takes texts and binary labels, computes (and caches) their last-token activations
at the profile's main layer (``saeprobe.core.activations.text_activations``), splits them with P1's
rule (balanced, seed from the profile; the 100 test rows P1 keeps shrink to a quarter of the rows
for small sets) and fits the z-scored logistic regression, P1's own, or -- with ``sae=`` -- P1's SAE
probe on the SAE's codes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from saeprobe.core.activations import text_activations
from saeprobe.p1.probes import make_probe
from saeprobe.p1.splits import MIN_TEST, Split, standard_split
from saeprobe.saes import encode

__all__ = ["TextProbe", "fit_probe"]


@dataclass
class TextProbe:
    """What :func:`fit_probe` returns: the fitted ``probe``, its ``test_auc`` and ``val_auc`` (P1's inner
    validation), the ``split`` and, for an SAE probe, the chosen ``latents`` (best first)."""

    probe: Any
    test_auc: float
    val_auc: float
    split: Split
    latents: list[int]

    def __repr__(self) -> str:
        kind = f"SAE probe, {len(self.latents)} latents" if self.latents else type(self.probe).__name__
        return (f"TextProbe({kind}: test AUC {self.test_auc:.3f}, val AUC {self.val_auc:.3f}, "
                f"{self.split.num_train} train / {self.split.num_test} test)")


def fit_probe(profile, texts: Sequence[str], labels, *, method: str = "lr_z", sae: Any = None, k: int = 16,
              progress: bool = True) -> TextProbe:
    """Fit a P1 probe on ``texts`` (``[n]`` strings) with binary ``labels`` (``[n]``, two values).

    ``method``: ``lr_z`` (default), ``lr`` (P1's), ``pca``, ``knn``, ``mlp``, ``xgb``; with ``sae`` (an
    SAE from ``saeprobe.saes.get_sae``) P1's SAE probe with the top ``k`` latents instead.
    """
    y = np.asarray(labels)
    if len(y) != len(texts):
        raise ValueError(f"fit_probe: {len(texts)} texts but {len(y)} labels; give one label per text")
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"fit_probe: labels need exactly two values, got {classes.tolist()[:5]}")
    y01 = (y == classes[1]).astype(np.int64)
    min_test = MIN_TEST if len(y01) > 2 * MIN_TEST else max(2, len(y01) // 4)
    split = standard_split(y01, seed=profile.seed, min_test=min_test)
    X = text_activations(profile, list(texts), progress=progress).numpy()
    if sae is not None:
        X = encode(sae, X)
        probe = make_probe("sae", k=int(k), ranking=profile.p1.sae_ranking, penalty=profile.p1.sae_penalty)
    else:
        probe = make_probe(method)
    probe.fit(X[split.train_idx], split.y_train)
    score = probe.predict_proba(X[split.test_idx])[:, 1]
    auc = float(roc_auc_score(split.y_test, score)) if len(np.unique(split.y_test)) == 2 else float("nan")
    return TextProbe(probe, auc, float(probe.val_auc_), split, [int(i) for i in getattr(probe, "latents_", [])])
