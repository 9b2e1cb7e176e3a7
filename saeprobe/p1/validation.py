"""P1's inner validation rule as a scikit-learn style splitter (Kantamneni et al. 2025).

:class:`P1InnerCV` reproduces ``sae_probes``' ``utils_training.get_cv`` + ``get_splits`` for a
training set of ``n`` rows (tested fold for fold against the package):

* ``n <= 12``: LeavePOut(2);
* ``n < 128``: StratifiedKFold(6, shuffle=True, random_state=seed);
* else one hold-out: the last ``min(int(0.2 n), 100)`` rows validate, the rest train.

Folds whose validation part lacks a class are dropped (P1 does this for the first two rules; a
single-class hold-out could not be scored, so it is dropped too). Folds whose *training* part is
single-class are kept, as in P1 (its LR scores them 0.5). When no fold is left, :meth:`split` yields
nothing and :meth:`get_n_splits` is 0 -- a value the probes act on (default parameters, val AUC NaN),
not an error.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["P1InnerCV"]


class P1InnerCV:
    """P1's inner-validation splitter: ``split(X, y)`` yields ``(train_positions, val_positions)``
    int64 arrays; ``get_n_splits(X, y)`` counts them. ``X`` is ignored (only its length is needed,
    and ``y`` gives it)."""

    def __init__(self, seed: int = 42):
        self.seed = seed

    def __repr__(self) -> str:
        return f"P1InnerCV(seed={self.seed})"

    @staticmethod
    def _labels(y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"P1InnerCV: labels must be a 1-D array, got shape {y.shape}")
        return y.astype(np.int64)

    def _folds(self, y: np.ndarray):
        from sklearn.model_selection import LeavePOut, StratifiedKFold

        n = len(y)
        if n <= 12:
            return LeavePOut(2).split(np.zeros((n, 1)), y)
        if n < 128:
            return StratifiedKFold(n_splits=6, shuffle=True, random_state=self.seed).split(np.zeros((n, 1)), y)
        val_size = min(int(0.2 * n), 100)
        return [(np.arange(n - val_size), np.arange(n - val_size, n))]

    def split(self, X=None, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """P1's folds of the training labels ``y`` ([n]); ValueError if ``y`` holds a single class
        or ``X`` has another number of rows."""
        if y is None:
            raise ValueError("P1InnerCV.split needs the training labels y")
        y = self._labels(y)
        n_x = None if X is None else (X.shape[0] if hasattr(X, "shape") else len(X))
        if n_x is not None and n_x != len(y):
            raise ValueError(f"P1InnerCV: X has {n_x} rows but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise ValueError(f"training data has a single class ({np.unique(y).tolist()}); need both classes")
        for tr, va in self._folds(y):
            if len(np.unique(y[va])) == 2:
                yield np.asarray(tr, dtype=np.int64), np.asarray(va, dtype=np.int64)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of usable folds for labels ``y`` (0: none has both classes in its validation part)."""
        return sum(1 for _ in self.split(X, y))
