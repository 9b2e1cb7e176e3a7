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

from saeprobe.core.activations import iter_token_acts, text_activations
from saeprobe.core.models import load_profile_model
from saeprobe.p1.probes import make_probe
from saeprobe.p1.splits import MIN_TEST, Split, standard_split
from saeprobe.saes import encode

__all__ = ["TextProbe", "fit_probe", "token_codes"]


@dataclass
class TextProbe:
    """What :func:`fit_probe` returns: the fitted ``probe``, its ``test_auc`` and ``val_auc`` (P1's inner
    validation), the ``split``, for an SAE probe the chosen ``latents`` (best first), and the probe's
    scores on the test rows (``test_score [num_test]``, in ``split.test_idx`` order)."""

    probe: Any
    test_auc: float
    val_auc: float
    split: Split
    latents: list[int]
    test_score: np.ndarray | None = None

    def auc_ci(self, *, n_boot: int = 2000, level: float = 0.95, seed: int = 42) -> tuple[float, float]:
        """Percentile bootstrap CI of the test AUC over the test rows (resamples lacking a class are
        dropped): ``(lo, hi)``; NaNs when there are no test scores or too few rows of a class."""
        y = np.asarray(self.split.y_test)
        if self.test_score is None or min((y == 0).sum(), (y == 1).sum()) < 2:
            return (float("nan"), float("nan"))
        s = np.asarray(self.test_score, dtype=float)
        rng = np.random.default_rng(seed)
        aucs = []
        for _ in range(n_boot):
            i = rng.integers(0, len(y), len(y))
            if 0 < y[i].sum() < len(i):
                aucs.append(roc_auc_score(y[i], s[i]))
        if not aucs:
            return (float("nan"), float("nan"))
        a = (1 - level) / 2
        lo, hi = np.quantile(aucs, [a, 1 - a])
        return (float(lo), float(hi))

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
    return TextProbe(probe, auc, float(probe.val_auc_), split, [int(i) for i in getattr(probe, "latents_", [])],
                     np.asarray(score, dtype=float))


def token_codes(profile, texts: Sequence[str], sae: Any, *, model: Any = None, progress: bool = False):
    """SAE codes of every real non-BOS token of ``texts`` at the SAE's hook (the profile's context length).

    Returns ``(codes, token_ids, text_index)``: ``codes`` a ``scipy.sparse.csr_matrix [n_tokens, d_sae]``,
    ``token_ids`` and ``text_index`` int64 ``[n_tokens]``, rows grouped by text and in token order
    (the layout ``saeprobe.p2.analysis.top_examples`` expects). Not cached: one forward pass.
    """
    hook = getattr(getattr(sae, "cfg", None), "metadata", None)
    hook = getattr(hook, "hook_name", None) or profile.hook_name()
    model = model if model is not None else load_profile_model(profile)
    parts = {i: (a, t) for i, a, t in iter_token_acts(model, list(texts), hook, max_len=profile.max_len,
                                                      batch_size=profile.batch_size, progress=progress)}
    order = sorted(parts)
    acts = np.concatenate([parts[i][0].numpy() for i in order])
    ids = np.concatenate([parts[i][1].numpy() for i in order]).astype(np.int64)
    tix = np.concatenate([np.full(len(parts[i][1]), i, dtype=np.int64) for i in order])
    return encode(sae, acts), ids, tix
