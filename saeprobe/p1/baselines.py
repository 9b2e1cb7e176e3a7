"""P1's non-linear and dimension-reduction baselines (Kantamneni et al. 2025): PCA + LR, KNN,
XGBoost (P1's 10 random draws) and an MLP (P1's one random draw), each standardised first and tuned
by P1's inner validation.
"""
from __future__ import annotations

import random
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from saeprobe.p1.base import BinaryProbe, auc, fold_has_two, inner_splits, standardize_fit

__all__ = ["PCAProbe", "KNNProbe", "XGBProbe", "MLPProbe"]


class PCAProbe(BinaryProbe):
    """Standardize -> PCA -> LR (C=1), choosing n_components from P1's grid
    ``unique(logspace(0, log2(min(n, d, max_components)), 10, base=2).astype(int))``.

    As in P1, the scaler and PCA are fit on all training rows (before the inner split). PCA uses the
    exact (full) SVD; P1's code uses sklearn's default, an unseeded randomized SVD on wide inputs.
    Fitted: ``n_components_``, ``val_auc_``, ``best_params_``, ``cv_results_``.
    """

    def __init__(self, max_components=100, max_iter=1000, random_state=42, cv_seed=42):
        self.max_components = max_components
        self.max_iter = max_iter
        self.random_state = random_state
        self.cv_seed = cv_seed

    def _fit_encoded(self, X, y01):
        from sklearn.decomposition import PCA

        Z, self._mu, self._sd = standardize_fit(X)
        n, d = Z.shape
        m = min(n, d, self.max_components)
        # exact SVD: P1 leaves PCA's solver on "auto", i.e. *unseeded randomized* SVD for inputs
        # wider than 500 -> its trailing components (and AUCs) vary run to run; ours is deterministic
        self.pca_ = PCA(n_components=m, svd_solver="full").fit(Z)
        P = self.pca_.transform(Z)
        grid = [int(v) for v in np.unique(np.logspace(0, np.log2(m), num=10, base=2, dtype=int))]
        lr = lambda: LogisticRegression(random_state=self.random_state, max_iter=self.max_iter)  # noqa: E731
        self.searched_ = n > 3
        val_auc = None
        best_c = m
        if n > 3:
            splits = inner_splits(y01, seed=self.cv_seed)

            def scores(tr, va):
                out = []
                for c in grid:
                    if not fold_has_two(y01, tr):
                        out.append(0.5)
                        continue
                    mdl = lr().fit(P[tr, :c], y01[tr])
                    out.append(auc(y01[va], mdl.predict_proba(P[va, :c])[:, 1]))  # P1: proba (ties)
                return out

            best, val_auc = self._select([{"n_components": c} for c in grid], splits, scores, y01)
            if best is not None:
                best_c = best["n_components"]
        self.n_components_ = int(best_c)
        self.best_params_ = {"n_components": int(best_c)}
        self.model_ = lr().fit(P[:, :best_c], y01)
        self.n_iter_ = int(np.max(self.model_.n_iter_))
        if val_auc is None:
            val_auc = auc(y01, self.model_.predict_proba(P[:, :best_c])[:, 1])
            self.cv_results_, self.n_splits_ = [], 0
        self.val_auc_ = val_auc

    def _features(self, X):
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        return self.pca_.transform((X - self._mu) / self._sd)[:, : self.n_components_]

    def decision_function(self, X):
        """Log-odds of ``classes_[1]``, shape [n]."""
        Z = self._features(self._validate_predict(X))
        return self.model_.decision_function(Z)

    def _proba1(self, X):
        return self.model_.predict_proba(self._features(X))[:, 1]


# --------------------------------------------------------------------------- KNN
class KNNProbe(BinaryProbe):
    """Standardize -> k-nearest neighbours; k from ``unique(logspace(0, log2(max_k), 10, base=2))``
    with ``max_k = min(n - 1, 100, smallest inner-training fold)`` (P1)."""

    def __init__(self, max_k=100, cv_seed=42):
        self.max_k = max_k
        self.cv_seed = cv_seed

    def _fit_encoded(self, X, y01):
        from sklearn.neighbors import KNeighborsClassifier

        Z, self._mu, self._sd = standardize_fit(X)
        n = Z.shape[0]
        self.searched_ = n > 3
        val_auc = None
        best_k = 1
        if n > 3:
            splits = inner_splits(y01, seed=self.cv_seed)
            min_tr = min((len(tr) for tr, _ in splits), default=n)
            max_k = max(1, min(n - 1, self.max_k, min_tr))
            grid = [int(v) for v in np.unique(np.logspace(0, np.log2(max_k), num=10, base=2, dtype=int))]

            def scores(tr, va):
                out = []
                for k in grid:
                    mdl = KNeighborsClassifier(n_neighbors=k).fit(Z[tr], y01[tr])
                    out.append(auc(y01[va], mdl.predict_proba(Z[va])[:, -1]
                                    if len(mdl.classes_) == 2 else np.full(len(va), 0.5)))
                return out

            best, val_auc = self._select([{"n_neighbors": k} for k in grid], splits, scores, y01)
            if best is not None:
                best_k = best["n_neighbors"]
        self.n_neighbors_ = int(best_k)
        self.best_params_ = {"n_neighbors": int(best_k)}
        self.model_ = KNeighborsClassifier(n_neighbors=best_k).fit(Z, y01)
        if val_auc is None:
            val_auc = auc(y01, self.model_.predict_proba(Z)[:, 1])
            self.cv_results_, self.n_splits_ = [], 0
        self.val_auc_ = val_auc

    def _proba1(self, X):
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        return self.model_.predict_proba((X - self._mu) / self._sd)[:, 1]


# --------------------------------------------------------------------------- XGBoost
_XGB_SPACE = {  # P1's random-search space, in P1's key order (the draws depend on it)
    "n_estimators": np.arange(50, 300, step=50),
    "max_depth": np.arange(2, 6),
    "learning_rate": np.logspace(-3, -1, num=10),
    "subsample": np.linspace(0.7, 1.0, num=5),
    "colsample_bytree": np.linspace(0.7, 1.0, num=5),
    "reg_alpha": np.logspace(-3, 1, num=10),
    "reg_lambda": np.logspace(-3, 1, num=10),
    "min_child_weight": np.arange(1, 10),
}


def _xgb_draws(n_iter: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_iter):
        p = {k: rng.choice(list(v)) for k, v in _XGB_SPACE.items()}
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()})
    return out


class _DrawSearchProbe(BinaryProbe):
    """Standardize, then choose one of ``self._draws()`` random configurations of ``self._new(**p)``
    by inner-CV validation AUC (P1's XGBoost and MLP searches); refit on all training rows."""

    def _search_fit(self, X, y01, *, default: dict, fallback_first: bool) -> None:
        """``X [n, d]``, ``y01 [n]``. ``n <= 3``: no search, ``default``; no usable fold: the first
        draw (``fallback_first``) or ``default``."""
        Z, self._mu, self._sd = standardize_fit(X)
        n = Z.shape[0]
        self.searched_ = n > 3
        params, val_auc = default, None
        if n > 3:
            draws = self._draws()
            splits = inner_splits(y01, seed=self.cv_seed)

            def scores(tr, va):
                out = []
                for p in draws:
                    if not fold_has_two(y01, tr):
                        out.append(0.5)
                        continue
                    mdl = self._new(**p).fit(Z[tr], y01[tr])
                    out.append(auc(y01[va], mdl.predict_proba(Z[va])[:, 1]))
                return out

            best, val_auc = self._select(draws, splits, scores, y01)
            params = best or (draws[0] if fallback_first else default)
        self.best_params_ = dict(params)
        self.model_ = self._new(**params).fit(Z, y01)
        if val_auc is None:
            val_auc = auc(y01, self.model_.predict_proba(Z)[:, 1])
            self.cv_results_, self.n_splits_ = [], 0
        self.val_auc_ = val_auc

    def _proba1(self, X):
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        return self.model_.predict_proba((X - self._mu) / self._sd)[:, 1]


class XGBProbe(_DrawSearchProbe):
    """Standardize -> XGBoost, P1's 10 random draws (``random.Random(seed)``, same draws as P1's code).

    ``n_jobs`` threads for xgboost (default 1: the runner parallelises across cells)."""

    def __init__(self, n_iter=10, random_state=42, cv_seed=42, n_jobs=1):
        self.n_iter = n_iter
        self.random_state = random_state
        self.cv_seed = cv_seed
        self.n_jobs = n_jobs

    def _new(self, **params):
        import xgboost

        return xgboost.XGBClassifier(**params, eval_metric="logloss", random_state=self.random_state,
                                     n_jobs=self.n_jobs)

    def _draws(self) -> list[dict]:
        return _xgb_draws(self.n_iter, self.random_state)

    def _fit_encoded(self, X, y01):
        self._search_fit(X, y01, default={}, fallback_first=False)


# --------------------------------------------------------------------------- MLP
_MLP_HIDDEN = [(16,), (32,), (64,), (16, 16), (32, 32), (64, 64), (16, 16, 16), (32, 32, 32), (64, 64, 64)]


def _mlp_draws(n_iter: int, seed: int) -> list[dict]:
    rng = np.random.RandomState(seed)
    lrs, alphas = np.logspace(-4, -2, num=5), np.logspace(-5, -2, num=5)
    out = []
    for _ in range(n_iter):  # same call order as P1's code
        out.append({
            "hidden_layer_sizes": _MLP_HIDDEN[rng.randint(len(_MLP_HIDDEN))],
            "learning_rate_init": float(lrs[rng.randint(len(lrs))]),
            "alpha": float(rng.choice(alphas)),
        })
    return out


class MLPProbe(_DrawSearchProbe):
    """Standardize -> sklearn MLP (adam, relu, max_iter 1000); P1 draws ONE random configuration
    (``n_iter=1``), so the inner CV only estimates its validation AUC."""

    def __init__(self, n_iter=1, max_iter=1000, random_state=42, cv_seed=42):
        self.n_iter = n_iter
        self.max_iter = max_iter
        self.random_state = random_state
        self.cv_seed = cv_seed

    def _new(self, **p):
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(max_iter=self.max_iter, random_state=self.random_state,
                             activation="relu", solver="adam", **p)

    def _draws(self) -> list[dict]:
        return _mlp_draws(self.n_iter, self.random_state)

    def _fit_encoded(self, X, y01):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._search_fit(X, y01, default={"hidden_layer_sizes": (32,)}, fallback_first=True)
        self.n_iter_ = int(self.model_.n_iter_)
