"""The machinery every P1 probe shares (Kantamneni et al. 2025): input checks, label encoding,
P1's model selection over inner-validation folds, BLAS pinning.

Subclasses of :class:`BinaryProbe` implement ``_fit_encoded(X, y01)`` (``X`` [n, d], ``y01`` [n] in
{0, 1}) and ``_proba1(X)``; they are scikit-learn estimators (``fit`` / ``predict`` /
``predict_proba`` / ``get_params``, checked with ``parametrize_with_checks``).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from saeprobe.core.checks import check_finite
from saeprobe.p1.validation import P1InnerCV

__all__ = ["BLAS_THREADS", "BinaryProbe", "auc", "fold_has_two", "inner_splits", "standardize_fit"]

#: BLAS threads used inside ``fit`` (see :meth:`BinaryProbe.fit`).
BLAS_THREADS = int(os.environ.get("SAEPROBE_BLAS_THREADS", "1"))


def inner_splits(y, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    """P1's inner-validation folds of training labels ``y`` ([n]) -> list of (train_idx, val_idx)
    (:class:`saeprobe.p1.validation.P1InnerCV`); ``[]`` when no fold is usable (the probes then fall
    back to default parameters, val AUC NaN)."""
    return list(P1InnerCV(seed=seed).split(None, y))


def auc(y, score) -> float:
    return float(roc_auc_score(y, score))


class BinaryProbe(ClassifierMixin, BaseEstimator):
    """Validation, label encoding, P1 model selection; subclasses implement ``_fit_encoded``."""

    _accept_sparse: bool | str | list = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags

    # -- input handling
    def _validate_fit(self, X, y):
        check_finite(X, f"{type(self).__name__}.fit: the training features")
        X, y = validate_data(
            self, X, y, accept_sparse=self._accept_sparse, dtype=[np.float64, np.float32],
            ensure_min_samples=1,
        )
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__}: the training labels contain only one class ({classes[0]!r}); "
                "a binary probe needs rows of both classes -- check the split / regime parameters."
            )
        if len(classes) > 2:
            raise ValueError(
                f"{type(self).__name__}: got {len(classes)} classes. Only binary classification is "
                "supported (P1 probes are binary) -- pass labels with exactly two values."
            )
        self.classes_ = classes
        return X, (y == classes[1]).astype(np.int64)

    def _validate_predict(self, X):
        check_is_fitted(self, "classes_")
        check_finite(X, f"{type(self).__name__}: the features to score")
        return validate_data(self, X, accept_sparse=self._accept_sparse,
                             dtype=[np.float64, np.float32], reset=False)

    def fit(self, X, y):
        """Fit on ``X`` [n, d] and binary ``y`` [n], selecting hyper-parameters by P1's inner CV.

        BLAS runs single-threaded inside ``fit`` (``SAEPROBE_BLAS_THREADS``, default 1): these are
        small matrices, and on a shared 2-core machine multi-threaded OpenBLAS spins and is up to
        80x slower per mat-vec. Parallelism belongs one level up (``saeprobe.p1.runner`` runs
        cells in parallel).
        """
        X, y01 = self._validate_fit(X, y)
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            self._fit_encoded(X, y01)
        return self

    def predict_proba(self, X):
        """Class probabilities, shape [n, 2], columns in ``classes_`` order."""
        p1 = np.clip(self._proba1(self._validate_predict(X)), 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        """Predicted labels, shape [n]."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > 0.5).astype(int)]

    # -- P1 selection
    def _select(self, candidates, splits, scores_for_split, y01):
        """Average validation AUC per candidate over ``splits``; pick the first best (P1 argmax).

        ``scores_for_split(train_idx, val_idx) -> list[float]`` (one AUC per candidate, grid order).
        Sets ``cv_results_``, ``n_splits_``; returns (best_params, best_val_auc).
        """
        self.n_splits_ = len(splits)
        if not splits:
            warnings.warn(
                f"{type(self).__name__}: no inner-validation fold has both classes "
                f"(n={len(y01)}, positives={int(y01.sum())}); using default parameters, val AUC = NaN.",
                RuntimeWarning, stacklevel=3,
            )
            self.cv_results_ = [{"params": p, "val_auc": float("nan")} for p in candidates]
            return None, float("nan")
        table = np.array([scores_for_split(tr, va) for tr, va in splits], dtype=float)
        mean = table.mean(axis=0)
        self.cv_results_ = [{"params": p, "val_auc": float(m)} for p, m in zip(candidates, mean)]
        best = int(np.argmax(mean))
        return candidates[best], float(mean[best])


def fold_has_two(y01, tr) -> bool:
    return y01[tr].min() != y01[tr].max()


def standardize_fit(X):
    """Per-feature z-scoring fitted on ``X`` [n, d] -> (Z [n, d] float64, mean [d], sd [d]); constant
    features keep sd 1."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mu) / sd, mu, sd
