"""P1's SAE probe (Kantamneni et al. 2025): rank SAE latents on the training rows, keep the top ``k``,
fit a probe on them.

:class:`SAETopKProbe` composes any binary probe through ``estimator=`` (default P1's L1 logistic
regression, :class:`saeprobe.p1.lr.LRProbe` with ``penalty="l1"``), which is cloned and fitted on
the ``k`` chosen columns through its public API only.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from saeprobe.p1.base import BinaryProbe
from saeprobe.p1.lr import LRProbe

__all__ = ["rank_latents", "SAETopKProbe"]

#: Fitted attributes of the inner estimator that the SAE probe exposes as its own (when present).
_FORWARDED = ("C_", "c_at_edge_", "val_auc_", "best_params_", "cv_results_", "n_splits_", "searched_", "n_iter_", "solver_")


def rank_latents(X, y01, ranking: str = "normalized") -> np.ndarray:
    """Rank SAE latents by ``|mean(class 1) - mean(class 0)|`` on the given (training!) rows.

    ``X``: [n, d_sae] dense or sparse codes; ``y01``: [n] in {0, 1}. ``ranking="raw"`` is P1's
    original rule; ``"normalized"`` first divides each latent by its mean non-zero ``|activation|``
    (``sae-probes``' ``mean_act_normalization``, adopted in P1's rebuttal). Returns all latent
    indices, best first (ties broken by index).
    """
    if ranking not in ("raw", "normalized"):
        raise ValueError(f"rank_latents: ranking={ranking!r}; use 'raw' or 'normalized'.")
    y01 = np.asarray(y01)
    pos, neg = y01 == 1, y01 == 0
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        m1 = np.asarray(X[pos].mean(axis=0)).ravel()
        m0 = np.asarray(X[neg].mean(axis=0)).ravel()
        abs_sum = np.asarray(abs(X).sum(axis=0)).ravel()
        nnz = np.asarray((X != 0).sum(axis=0)).ravel().astype(float)
    else:
        X = np.asarray(X, dtype=np.float64)
        m1, m0 = X[pos].mean(axis=0), X[neg].mean(axis=0)
        abs_sum = np.abs(X).sum(axis=0)
        nnz = (X != 0).sum(axis=0).astype(float)
    diff = m1 - m0
    if ranking == "normalized":
        col_mean = abs_sum / (nnz + 1e-6)
        diff = diff / (col_mean + 1e-6)
    return np.argsort(-np.abs(diff), kind="stable")


class SAETopKProbe(BinaryProbe):
    """P1's SAE probe: keep the top-``k`` latents ranked on TRAIN, then fit ``estimator`` on them.

    Parameters
    ----------
    k : number of latents kept (P1: 1..512 standard; 16 / 128 other regimes).
    ranking : "normalized" (sae-probes default) or "raw" (P1's original; used for OOD).
    binarize : if True, features become ``X > binarize_threshold`` (P1: threshold 1; the
        ``sae-probes`` package uses ``X != 0``, i.e. threshold 0 for non-negative codes).
    estimator : the probe fitted on the chosen latents (cloned); None = P1's
        ``LRProbe(penalty="l1")`` (liblinear, saga where it crawls; see :class:`LRProbe`).

    Notes
    -----
    Fitted: ``latents_`` (int array [k], best first), ``estimator_`` (the fitted clone), and the
    estimator's ``C_``, ``val_auc_``, ``best_params_`` (plus ``k``), ``cv_results_``, ``n_splits_``,
    ``searched_``, ``n_iter_``, ``solver_`` where it has them.
    """

    _accept_sparse = "csr"

    def __init__(self, k=16, ranking="normalized", binarize=False, binarize_threshold=1.0, estimator=None):
        self.k = k
        self.ranking = ranking
        self.binarize = binarize
        self.binarize_threshold = binarize_threshold
        self.estimator = estimator

    def _select_cols(self, X):
        Xk = X[:, self.latents_]
        Xk = Xk.toarray() if sp.issparse(Xk) else np.asarray(Xk, dtype=np.float64)
        if self.binarize:
            Xk = (Xk > self.binarize_threshold).astype(np.float64)
        return Xk

    def _fit_encoded(self, X, y01):
        if int(self.k) < 1:
            raise ValueError(f"SAETopKProbe: k={self.k!r}; k must be a positive integer.")
        order = rank_latents(X, y01, self.ranking)
        self.latents_ = order[: min(int(self.k), X.shape[1])].astype(np.int64)
        est = LRProbe(penalty="l1") if self.estimator is None else self.estimator
        self.estimator_ = clone(est).fit(self._select_cols(X), y01)
        for a in _FORWARDED:
            if hasattr(self.estimator_, a):
                setattr(self, a, getattr(self.estimator_, a))
        self.best_params_ = {**getattr(self.estimator_, "best_params_", {}), "k": len(self.latents_)}

    def decision_function(self, X):
        """Log-odds of ``classes_[1]``, shape [n] (the estimator's decision function)."""
        Xk = self._select_cols(self._validate_predict(X))  # raises NotFittedError first
        return self.estimator_.decision_function(Xk)

    def _proba1(self, X):
        return self.estimator_.predict_proba(self._select_cols(X))[:, 1]
