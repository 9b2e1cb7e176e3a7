"""P1 probes as scikit-learn estimators (Kantamneni et al. 2025, protocol P1 in PROTOCOLS.md): the
registry (:func:`make_probe`, :data:`METHODS`) over :mod:`~saeprobe.p1.lr`, :mod:`~saeprobe.p1.baselines`
and :mod:`~saeprobe.p1.sae_probe`.

Every estimator here is a binary classifier (``BaseEstimator`` + ``ClassifierMixin``) with
``fit(X, y)`` / ``predict`` / ``predict_proba`` / ``get_params``; the linear ones also have
``decision_function``. Inputs: ``X`` of shape ``[n_rows, n_features]`` (dense numpy, or scipy
sparse for :class:`LRProbe` and :class:`SAETopKProbe` -- SAE codes are sparse), ``y`` of shape
``[n_rows]`` with exactly two classes (any labels; ``classes_`` is sorted like ``LabelEncoder``).

Hyper-parameter selection follows P1 exactly:

* inner validation folds from :class:`saeprobe.p1.validation.P1InnerCV` (P1's rule: n <= 12
  LeavePOut(2); n < 128 StratifiedKFold(6, shuffle, seed 42); else a hold-out of the last
  min(20 %, 100) rows; folds without both classes dropped).
* the candidate with the best mean validation ROC-AUC wins (ties: the first in P1's grid order);
* the final model is refit on all training rows;
* n <= 3 rows: no search, P1's default parameters, and ``val_auc_`` is the *training* AUC (what P1's
  code reports; ``searched_`` is False then).

After ``fit`` every probe exposes ``val_auc_`` (float), ``best_params_`` (dict), ``cv_results_``
(list of ``{"params": ..., "val_auc": ...}`` in grid order) and ``n_splits_``.

Speed (measured in ``benchmarks/probes.py``; same optimisation problem as P1, different route):

* :class:`LRProbe` centres the features on the training mean and divides them by one global scale
  ``s`` while multiplying C by ``s**2`` (L2) / ``s`` (L1) and dividing lbfgs' gradient tolerance by
  ``s``. The intercept is not penalised, so this is *exactly* P1's objective and stopping rule, but
  far better conditioned (the residual stream has a huge constant offset), so lbfgs needs several
  times fewer iterations. The C path is warm-started from strong to weak regularisation; where a
  warm start already meets the stopping rule (the flat, separable large-C regime whose answer
  depends on the optimiser's path) the fit restarts from zero, as P1's does.
* L1 fits (P1's SAE probes) use liblinear's coordinate descent on the same centred, rescaled
  features instead of P1's saga, which stops at its 1000-epoch cap, unconverged, for most mid-range
  C on SAE codes; liblinear reaches the optimum of the same objective 10-30x faster
  (``l1_solver="saga"`` keeps P1's solver; see :class:`LRProbe` for the intercept detail).
* Validation AUC is computed on probabilities, as P1 does: float64 ``expit`` saturates to exactly
  1.0 for logits above ~37, and the resulting ties lower the AUC of large-C fits. This quirk
  decides P1's choice of C on real activations; scoring logits instead changes the chosen C.
* BLAS is pinned to one thread inside ``fit`` (shared 2-core machine; see :meth:`saeprobe.p1.base.BinaryProbe.fit`).
* ``p1_budget=N`` additionally replays P1's own unscaled fit for the largest C values (exact where
  P1 stops early); ``p1_budget > max_iter`` is P1 verbatim (tested equal to ``sae-probes``).
* ``scale="standardize"`` (per-feature z-scoring: a *different* objective, fastest) and
  ``scale="none"`` (no reparameterisation) exist for comparison.

Other deliberate differences from P1's code: PCA uses the exact SVD (P1's default solver is an
unseeded randomized SVD on inputs wider than 500, so P1's own PCA numbers vary run to run).
"""
from __future__ import annotations

from saeprobe.p1.base import BinaryProbe, inner_splits
from saeprobe.p1.baselines import KNNProbe, MLPProbe, PCAProbe, XGBProbe
from saeprobe.p1.lr import C_GRID, Z_C_GRID, GridEdgeWarning, LRProbe, ZLRProbe
from saeprobe.p1.sae_probe import SAETopKProbe, rank_latents

__all__ = ["C_GRID", "Z_C_GRID", "GridEdgeWarning", "inner_splits", "BinaryProbe", "LRProbe", "ZLRProbe", "PCAProbe", "KNNProbe", "XGBProbe", "MLPProbe",
           "SAETopKProbe", "rank_latents", "make_probe", "METHODS"]

METHODS = {
    "lr": LRProbe,
    "lr_z": ZLRProbe,
    "pca": PCAProbe,
    "knn": KNNProbe,
    "xgb": XGBProbe,
    "mlp": MLPProbe,
    "sae": SAETopKProbe,
}
#: Parameters of the SAE probe itself; any other parameter of an ``"sae"`` spec configures its
#: inner logistic regression (P1: ``LRProbe(penalty="l1")``).
_SAE_OWN = ("k", "ranking", "binarize", "binarize_threshold", "estimator")


def make_probe(method: str, **params) -> BinaryProbe:
    """Build a probe by short name (``lr``, ``lr_z``, ``pca``, ``knn``, ``xgb``, ``mlp``, ``sae``).

    For ``"sae"``, parameters other than the SAE probe's own (``k``, ``ranking``, ``binarize``,
    ``binarize_threshold``) go to its estimator, ``LRProbe(penalty="l1", **rest)``; e.g.
    ``make_probe("sae", k=16, penalty="l2")``.
    """
    try:
        cls = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown probe method {method!r}; choose one of {sorted(METHODS)}.") from None
    if method == "sae":
        own = {k: v for k, v in params.items() if k in _SAE_OWN}
        rest = {k: v for k, v in params.items() if k not in _SAE_OWN}
        if rest:
            if "estimator" in own:
                raise ValueError(f"make_probe('sae'): pass LR settings {sorted(rest)} inside estimator=, not both")
            own["estimator"] = LRProbe(**{"penalty": "l1", **rest})
        return cls(**own)
    return cls(**params)
