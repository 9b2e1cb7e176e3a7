"""P1 probes as scikit-learn estimators (Kantamneni et al. 2025, protocol P1 in PROTOCOLS.md).

Every estimator here is a binary classifier (``BaseEstimator`` + ``ClassifierMixin``) with
``fit(X, y)`` / ``predict`` / ``predict_proba`` / ``get_params``; the linear ones also have
``decision_function``. Inputs: ``X`` of shape ``[n_rows, n_features]`` (dense numpy, or scipy
sparse for :class:`LRProbe` and :class:`SAETopKProbe` -- SAE codes are sparse), ``y`` of shape
``[n_rows]`` with exactly two classes (any labels; ``classes_`` is sorted like ``LabelEncoder``).

Hyper-parameter selection follows P1 exactly:

* inner validation splits from :func:`inner_splits` (P1's rule: n <= 12 LeavePOut(2); n < 128
  StratifiedKFold(6, shuffle, seed 42); else a hold-out of the last min(20 %, 100) rows; folds
  without both classes dropped). It delegates to ``saeprobe.regimes.inner_cv`` when that exists.
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
* BLAS is pinned to one thread inside ``fit`` (shared 2-core machine; see :meth:`_BinaryProbe.fit`).
* ``p1_budget=N`` additionally replays P1's own unscaled fit for the largest C values (exact where
  P1 stops early); ``p1_budget > max_iter`` is P1 verbatim (tested equal to ``sae-probes``).
* ``scale="standardize"`` (per-feature z-scoring: a *different* objective, fastest) and
  ``scale="none"`` (no reparameterisation) exist for comparison.

Other deliberate differences from P1's code: PCA uses the exact SVD (P1's default solver is an
unseeded randomized SVD on inputs wider than 500, so P1's own PCA numbers vary run to run).
"""
from __future__ import annotations

import os
import random
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from saeprobe.p1.splits import inner_cv

__all__ = [
    "C_GRID",
    "SAE_KS_STANDARD",
    "SAE_KS_OTHER",
    "inner_splits",
    "LRProbe",
    "PCAProbe",
    "KNNProbe",
    "XGBProbe",
    "MLPProbe",
    "SAETopKProbe",
    "rank_latents",
    "make_probe",
    "METHODS",
]

#: BLAS threads used inside ``fit`` (see :meth:`_BinaryProbe.fit`).
BLAS_THREADS = int(os.environ.get("SAEPROBE_BLAS_THREADS", "1"))
#: P1's inverse-regularisation grid, in P1's order (ties in validation AUC go to the first = largest C).
C_GRID = np.logspace(5, -5, 10)
#: liblinear's constant intercept feature for L1 fits, in units of the rescaled features' RMS (1).
L1_INTERCEPT_SCALING = 100.0
#: liblinear Newton steps before an L1 fit is handed to saga (converged fits on SAE codes take 0-35).
L1_LIBLINEAR_MAX_ITER = 50
#: P1's k grid for SAE probes in the standard setting, and in the other regimes.
SAE_KS_STANDARD = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SAE_KS_OTHER = (16, 128)


# --------------------------------------------------------------------------- inner validation
def inner_splits(y, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    """P1 inner-validation splits for training labels ``y`` ([n]) -> list of (train_idx, val_idx).

    Delegates to ``saeprobe.regimes.inner_cv(n, y, seed=seed)`` (the data module owns P1's rule:
    n <= 12 LeavePOut(2); n < 128 StratifiedKFold(6, shuffle, seed); else hold-out of the last
    min(20 %, 100) rows; folds whose validation part lacks a class are dropped). Returns ``[]``
    when no fold is usable (the probes then fall back to default parameters, val AUC NaN).
    """

    y = np.asarray(y)
    try:
        folds = inner_cv(len(y), y, seed=seed)
    except ValueError as err:
        if "no validation fold" in str(err):
            return []
        raise
    return [(np.asarray(tr), np.asarray(va)) for tr, va in folds]


# --------------------------------------------------------------------------- shared machinery
def _auc(y, score) -> float:
    return float(roc_auc_score(y, score))


class _BinaryProbe(ClassifierMixin, BaseEstimator):
    """Validation, label encoding, P1 model selection; subclasses implement ``_fit_encoded``."""

    _accept_sparse: bool | str | list = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags

    # -- input handling
    def _validate_fit(self, X, y):
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
        return validate_data(self, X, accept_sparse=self._accept_sparse,
                             dtype=[np.float64, np.float32], reset=False)

    def fit(self, X, y):
        """Fit on ``X`` [n, d] and binary ``y`` [n], selecting hyper-parameters by P1's inner CV.

        BLAS runs single-threaded inside ``fit`` (``SAEPROBE_BLAS_THREADS``, default 1): these are
        small matrices, and on a shared 2-core machine multi-threaded OpenBLAS spins and is up to
        80x slower per mat-vec. Parallelism belongs one level up (``saeprobe.p1`` runs cells in
        parallel).
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


def _fold_has_two(y01, tr) -> bool:
    return y01[tr].min() != y01[tr].max()


# --------------------------------------------------------------------------- logistic regression
class LRProbe(_BinaryProbe):
    """Logistic-regression probe with P1's C grid and inner validation.

    Parameters
    ----------
    Cs : sequence of float or None
        Inverse regularisation strengths in selection order; None = P1's ``logspace(5, -5, 10)``.
    penalty : "l2" (lbfgs, P1's baseline) or "l1" (P1's SAE probes; solver: ``l1_solver``).
    scale : "center" (default; exact reparameterisation, see module docstring), "standardize"
        (per-feature z-score: a different objective, faster still), or "none" (P1's code verbatim).
        Sparse input is never centred (only rescaled), which is still exact.
    warm_start : walk the C path from strong to weak regularisation reusing coefficients.
    p1_budget : int (default 0). From the largest C down, first run P1's own unscaled lbfgs (in
        float64 for any input dtype, as P1's scikit-learn 1.6 did) capped at this many iterations
        and keep its result while it stops earlier (then it is exactly P1's, including P1's early
        stops at large C on separable data -- implicit regularisation that changes which C wins);
        from the first miss on, solve the remaining C on the fast path. 0 = fast path only; ``> max_iter`` = P1 verbatim (slow). Only for
        ``penalty="l2"``, ``scale="center"``, dense input.
    max_iter, tol : solver settings (P1: 1000, sklearn's default 1e-4).
    cv_seed : seed of the inner StratifiedKFold (P1: 42).
    l1_solver : "liblinear" (default; coordinate descent, converges) or "saga" (P1's solver). Same
        objective -- P1's L1 logistic regression at each C -- on the centred, rescaled features;
        liblinear carries the intercept as a constant feature of value
        :data:`L1_INTERCEPT_SCALING` (100 x the features' RMS), so its L1 penalty on the intercept
        is 1/100 of a weight's. saga (P1's) stops at ``max_iter`` epochs, unconverged, for most
        mid-range C on SAE codes (measured in ``benchmarks/probes.py``: 10-30x slower per grid).
    random_state : solver seed (saga's sampling, liblinear's coordinate order).

    Fitted attributes: ``coef_`` [d] and ``intercept_`` (float) in the *original* feature space,
    ``C_`` (chosen C, P1 units), ``val_auc_``, ``best_params_``, ``cv_results_``, ``searched_``,
    ``solver_`` (the sklearn solver of the final fit: lbfgs, liblinear or saga).
    """

    _accept_sparse = "csr"

    def __init__(self, Cs=None, penalty="l2", scale="center", warm_start=True, max_iter=1000,
                 tol=1e-4, p1_budget=0, cv_seed=42, random_state=42, l1_solver="liblinear"):
        self.Cs = Cs
        self.l1_solver = l1_solver
        self.p1_budget = p1_budget
        self.penalty = penalty
        self.scale = scale
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.tol = tol
        self.cv_seed = cv_seed
        self.random_state = random_state

    # -- feature transform (exact for "center"/"none")
    def _fit_transform(self, X):
        if self.scale not in ("center", "standardize", "none"):
            raise ValueError(f"LRProbe: scale={self.scale!r}; use 'center', 'standardize' or 'none'.")
        if self.penalty not in ("l1", "l2"):
            raise ValueError(f"LRProbe: penalty={self.penalty!r}; use 'l2' or 'l1'.")
        if self.l1_solver not in ("liblinear", "saga"):
            raise ValueError(f"LRProbe: l1_solver={self.l1_solver!r}; use 'liblinear' or 'saga'.")
        d = X.shape[1]
        sparse = sp.issparse(X)
        if self.scale == "none":
            self._mu, self._sd = np.zeros(d), np.ones(d)
        elif sparse:
            Xc = X.tocsr().astype(np.float64)
            mean = np.asarray(Xc.mean(axis=0)).ravel()
            var = np.asarray(Xc.multiply(Xc).mean(axis=0)).ravel() - mean**2
            self._mu = np.zeros(d)
            if self.scale == "standardize":
                sd = np.sqrt(np.maximum(var, 0))
                self._sd = np.where(sd > 0, sd, 1.0)
            else:
                s = np.sqrt(max(float(np.mean(np.maximum(var, 0))), 0.0)) or 1.0
                self._sd = np.full(d, s)
        else:
            X64 = np.asarray(X, dtype=np.float64)
            self._mu = X64.mean(axis=0)
            if self.scale == "standardize":
                sd = X64.std(axis=0)
                self._sd = np.where(sd > 0, sd, 1.0)
            else:
                s = float(np.sqrt(np.mean((X64 - self._mu) ** 2))) or 1.0
                self._sd = np.full(d, s)
        return self._transform(X)

    def _transform(self, X):
        if sp.issparse(X):
            return sp.csr_matrix(X, dtype=np.float64) @ sp.diags(1.0 / self._sd)
        return (np.asarray(X, dtype=np.float64) - self._mu) / self._sd

    def _c_factor(self) -> float:
        """Multiply P1's C by this in the rescaled space so the objective is unchanged."""
        if self.scale == "standardize":
            return 1.0  # different objective by design (documented deviation)
        s = float(self._sd[0]) if len(self._sd) else 1.0
        return s**2 if self.penalty == "l2" else s

    def _fast_tol(self) -> float:
        """lbfgs stops when max|gradient| <= tol; gradients w.r.t. rescaled weights are 1/s of the
        original ones, so tol/s is P1's stopping rule expressed in our parameterisation."""
        if self.scale == "center" and self.penalty == "l2" and len(self._sd):
            return self.tol / float(self._sd[0])
        return self.tol

    def _new_lr(self, C, saga=False):
        """sklearn estimator for one C (P1 units) in the rescaled space; ``saga=True`` forces saga
        for an L1 fit (used where liblinear crawls, see :meth:`_fit_one`)."""
        kw = dict(C=C * self._c_factor(), max_iter=self.max_iter, tol=self._fast_tol(),
                  random_state=self.random_state, warm_start=self.warm_start)
        if self.penalty == "l1" and self.l1_solver == "liblinear" and not saga:
            kw.update(solver="liblinear", l1_ratio=1.0, intercept_scaling=L1_INTERCEPT_SCALING, warm_start=False,
                      max_iter=min(int(self.max_iter), L1_LIBLINEAR_MAX_ITER))
        elif self.penalty == "l1":
            kw.update(solver="saga", l1_ratio=1.0)
        else:
            kw.update(solver="lbfgs")
        return LogisticRegression(**kw)

    def _fit_one(self, Xt, y01, C, saga=False, warm_start=None):
        """Fit one C on ``Xt`` [n, d] (rescaled) from zero -> fitted sklearn estimator.

        An L1 liblinear fit that hits :data:`L1_LIBLINEAR_MAX_ITER` is handed to saga, warm-started
        from liblinear's iterate (the returned estimator is then the saga one).
        """
        lr = self._new_lr(C, saga=saga)
        if warm_start is not None and lr.solver != "liblinear":
            lr.set_params(warm_start=warm_start)
        lr.fit(Xt, y01)
        if lr.solver == "liblinear" and int(np.max(lr.n_iter_)) >= L1_LIBLINEAR_MAX_ITER:
            prev = lr
            lr = self._new_lr(C, saga=True)
            lr.set_params(warm_start=True)
            lr.coef_, lr.intercept_ = prev.coef_.copy(), prev.intercept_.copy()
            lr.fit(Xt, y01)
            lr.set_params(warm_start=self.warm_start if warm_start is None else warm_start)
        return lr

    def _exact_try(self, Xraw, y01, C, final=False):
        """P1's own fit (unscaled lbfgs from zero, same tol) capped at ``p1_budget`` iterations.

        lbfgs is deterministic, so when it stops before the cap its result IS what P1's code
        returns (including P1's early stops at large C on separable data, which act as implicit
        regularisation). Returns (coef, intercept, n_iter) in the transformed space, or None (cap hit, or
        not applicable) -- then the fast path solves the same problem. ``p1_budget > max_iter`` makes
        every fit P1's verbatim (slow; used to test equivalence).
        """
        if (self.p1_budget <= 0 or self.penalty != "l2" or self.scale != "center" or sp.issparse(Xraw)):
            return None
        cap = min(int(self.p1_budget), int(self.max_iter))
        m = LogisticRegression(C=C, max_iter=cap, tol=self.tol, random_state=self.random_state)
        if final:  # P1 shuffles the training rows (RandomState(seed)) before its final fit
            perm = np.random.RandomState(self.random_state).permutation(len(y01))
            Xraw, y01 = Xraw[perm], y01[perm]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(Xraw, y01)
        if int(np.max(m.n_iter_)) >= int(self.p1_budget):
            return None
        w = m.coef_.ravel()
        return (w * self._sd)[None, :], m.intercept_ + w @ self._mu, int(np.max(m.n_iter_))

    def _path(self, Xt, y01, Cs, Xraw=None):
        """Fit every C of ``Cs`` on one training fold -> dict C_index -> (coef, intercept).

        Phase 1 (only with ``p1_budget > 0``): from the largest C down, P1's own fit capped at
        ``p1_budget`` iterations, kept while it stops early (P1's iteration count grows as C
        shrinks, so the first miss ends phase 1). Phase 2: the remaining C from strong to weak
        regularisation on the well-conditioned problem, warm-started.

        L1 with liblinear: a fit that has not converged in :data:`L1_LIBLINEAR_MAX_ITER` Newton
        steps is in the flat, (near-)separable regime where liblinear crawls (up to ~45 s per fit
        on SAE codes, where P1's saga stops at its epoch cap); that C and every larger one continue
        with saga (P1's solver, P1's epoch cap), warm-started from liblinear's last iterate, and are
        recorded in ``_saga_Cs``.
        """
        Cs = [float(c) for c in Cs]
        models = {}
        if Xraw is not None and self.p1_budget > 0:
            for i in np.argsort(-np.asarray(Cs), kind="stable"):
                exact = self._exact_try(Xraw, y01, Cs[i])
                if exact is None:
                    break
                models[int(i)] = exact[:2]
                self._exact_Cs.add(Cs[i])
        lr = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for i in np.argsort(np.asarray(Cs), kind="stable"):  # small C (strong reg) first
                if int(i) in models:
                    continue
                if lr is None or not lr.warm_start:  # liblinear (L1) has no warm start
                    lr = self._fit_one(Xt, y01, Cs[i])
                else:
                    lr.set_params(C=Cs[i] * self._c_factor())
                    lr.fit(Xt, y01)
                    if int(np.max(lr.n_iter_)) <= 1:
                        # the previous optimum already meets the stopping rule: the flat,
                        # (near-)separable large-C regime, where the answer depends on the path.
                        # Refit from zero as P1 does so the early-stopped point is comparable.
                        lr = self._new_lr(Cs[i], saga=lr.solver == "saga")
                        lr.fit(Xt, y01)
                if lr.solver == "saga" and self.penalty == "l1" and self.l1_solver == "liblinear":
                    self._saga_Cs.add(Cs[i])
                models[int(i)] = (lr.coef_.copy(), lr.intercept_.copy())
        return models

    @staticmethod
    def _decision(Xt, coef, intercept):
        return np.asarray(Xt @ coef.ravel()).ravel() + float(intercept[0])

    def _fit_encoded(self, X, y01):
        Cs = [float(c) for c in (C_GRID if self.Cs is None else np.atleast_1d(self.Cs))]
        Xt = self._fit_transform(X)
        # P1's scikit-learn (1.6, sae-probes' minimum) ran lbfgs in float64 whatever the input
        # dtype; newer releases keep float32 and stop elsewhere (up to 0.03 test AUC apart on
        # float32 activations), so P1's replays (p1_budget) get float64 -- cast once, here
        Xraw = np.asarray(X, dtype=np.float64) if self.p1_budget > 0 and not sp.issparse(X) else X
        self._exact_Cs, self._saga_Cs = set(), set()
        n = X.shape[0]
        self.searched_ = n > 3 and len(Cs) > 1
        C = 1.0
        val_auc = None
        if n > 3 and len(Cs) >= 1:
            splits = inner_splits(y01, seed=self.cv_seed)

            def scores(tr, va):
                if not _fold_has_two(y01, tr):
                    return [0.5] * len(Cs)  # P1: neutral score for single-class training folds
                models = self._path(Xt[tr], y01[tr], Cs, Xraw[tr])
                # P1 scores predict_proba: float64 expit saturates to exactly 1.0 for logits > ~37,
                # and those ties lower the AUC of large-C fits -- part of how P1 picks C; keep it
                return [_auc(y01[va], expit(self._decision(Xt[va], *models[i]))) for i in range(len(Cs))]

            best, val_auc = self._select([{"C": float(c)} for c in Cs], splits, scores, y01)
            if best is not None:
                C = best["C"]
        # final refit: P1's own fit first only where it stopped early on the inner folds (or no search)
        exact = self._exact_try(Xraw, y01, C, final=True) if (C in self._exact_Cs or not self.searched_) else None
        if exact is not None:
            self._wt, self._bt, self.n_iter_ = exact  # P1's own fit, stopped before p1_budget
            self.solver_ = "lbfgs"
            self.exact_final_ = True
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                # L1: saga from zero where the folds needed saga at this C (P1's final fit)
                final = self._fit_one(Xt, y01, C, saga=C in self._saga_Cs, warm_start=False)
            self._wt, self._bt = final.coef_.copy(), final.intercept_.copy()
            self.n_iter_ = int(np.max(final.n_iter_))
            self.solver_ = final.solver
            self.exact_final_ = False
        self.C_ = float(C)
        self.best_params_ = {"C": float(C)}
        w = self._wt.ravel() / self._sd
        self.coef_ = w
        self.intercept_ = float(self._bt[0] - w @ self._mu)
        if val_auc is None:  # P1: no search -> report training AUC
            val_auc = _auc(y01, expit(self._decision(Xt, self._wt, self._bt)))
            self.cv_results_, self.n_splits_ = [], 0
        self.val_auc_ = val_auc

    def decision_function(self, X):
        """Log-odds of ``classes_[1]``, shape [n]."""
        X = self._validate_predict(X)
        return self._decision(self._transform(X), self._wt, self._bt)

    def _proba1(self, X):
        return expit(self._decision(self._transform(X), self._wt, self._bt))


# --------------------------------------------------------------------------- PCA + LR
def _standardize_fit(X):
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mu) / sd, mu, sd


class PCAProbe(_BinaryProbe):
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

        Z, self._mu, self._sd = _standardize_fit(X)
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
                    if not _fold_has_two(y01, tr):
                        out.append(0.5)
                        continue
                    mdl = lr().fit(P[tr, :c], y01[tr])
                    out.append(_auc(y01[va], mdl.predict_proba(P[va, :c])[:, 1]))  # P1: proba (ties)
                return out

            best, val_auc = self._select([{"n_components": c} for c in grid], splits, scores, y01)
            if best is not None:
                best_c = best["n_components"]
        self.n_components_ = int(best_c)
        self.best_params_ = {"n_components": int(best_c)}
        self.model_ = lr().fit(P[:, :best_c], y01)
        self.n_iter_ = int(np.max(self.model_.n_iter_))
        if val_auc is None:
            val_auc = _auc(y01, self.model_.predict_proba(P[:, :best_c])[:, 1])
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
class KNNProbe(_BinaryProbe):
    """Standardize -> k-nearest neighbours; k from ``unique(logspace(0, log2(max_k), 10, base=2))``
    with ``max_k = min(n - 1, 100, smallest inner-training fold)`` (P1)."""

    def __init__(self, max_k=100, cv_seed=42):
        self.max_k = max_k
        self.cv_seed = cv_seed

    def _fit_encoded(self, X, y01):
        from sklearn.neighbors import KNeighborsClassifier

        Z, self._mu, self._sd = _standardize_fit(X)
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
                    out.append(_auc(y01[va], mdl.predict_proba(Z[va])[:, -1]
                                    if len(mdl.classes_) == 2 else np.full(len(va), 0.5)))
                return out

            best, val_auc = self._select([{"n_neighbors": k} for k in grid], splits, scores, y01)
            if best is not None:
                best_k = best["n_neighbors"]
        self.n_neighbors_ = int(best_k)
        self.best_params_ = {"n_neighbors": int(best_k)}
        self.model_ = KNeighborsClassifier(n_neighbors=best_k).fit(Z, y01)
        if val_auc is None:
            val_auc = _auc(y01, self.model_.predict_proba(Z)[:, 1])
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


class _DrawSearchProbe(_BinaryProbe):
    """Standardize, then choose one of ``self._draws()`` random configurations of ``self._new(**p)``
    by inner-CV validation AUC (P1's XGBoost and MLP searches); refit on all training rows."""

    def _search_fit(self, X, y01, *, default: dict, fallback_first: bool) -> None:
        """``X [n, d]``, ``y01 [n]``. ``n <= 3``: no search, ``default``; no usable fold: the first
        draw (``fallback_first``) or ``default``."""
        Z, self._mu, self._sd = _standardize_fit(X)
        n = Z.shape[0]
        self.searched_ = n > 3
        params, val_auc = default, None
        if n > 3:
            draws = self._draws()
            splits = inner_splits(y01, seed=self.cv_seed)

            def scores(tr, va):
                out = []
                for p in draws:
                    if not _fold_has_two(y01, tr):
                        out.append(0.5)
                        continue
                    mdl = self._new(**p).fit(Z[tr], y01[tr])
                    out.append(_auc(y01[va], mdl.predict_proba(Z[va])[:, 1]))
                return out

            best, val_auc = self._select(draws, splits, scores, y01)
            params = best or (draws[0] if fallback_first else default)
        self.best_params_ = dict(params)
        self.model_ = self._new(**params).fit(Z, y01)
        if val_auc is None:
            val_auc = _auc(y01, self.model_.predict_proba(Z)[:, 1])
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


# --------------------------------------------------------------------------- SAE top-k probe
def rank_latents(X, y01, ranking: str = "normalized") -> np.ndarray:
    """Rank SAE latents by |mean(class 1) - mean(class 0)| on the given (training!) rows.

    ``X``: [n, d_sae] dense or sparse codes; ``y01``: [n] in {0, 1}. ``ranking="raw"`` is P1's
    original rule; ``"normalized"`` first divides each latent by its mean non-zero |activation|
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


class SAETopKProbe(_BinaryProbe):
    """P1's SAE probe: keep the top-``k`` latents ranked on TRAIN, then an inner-CV'd LR on them.

    Parameters
    ----------
    k : number of latents kept (P1: 1..512 standard; 16 / 128 other regimes).
    ranking : "normalized" (sae-probes default) or "raw" (P1's original; used for OOD).
    penalty : "l1" (P1; solver ``l1_solver``, see :class:`LRProbe`) or "l2".
    binarize : if True, features become ``X > binarize_threshold`` (P1: threshold 1; the
        ``sae-probes`` package uses ``X != 0``, i.e. threshold 0 for non-negative codes).
    Cs, scale, max_iter, tol, cv_seed, random_state, l1_solver : as :class:`LRProbe`.

    Fitted: ``latents_`` (int array [k], best first), ``lr_`` (the fitted :class:`LRProbe`),
    ``C_``, ``val_auc_``, ``best_params_``, ``cv_results_``.
    """

    _accept_sparse = "csr"

    def __init__(self, k=16, ranking="normalized", penalty="l1", binarize=False, binarize_threshold=1.0,
                 Cs=None, scale="center", max_iter=1000, tol=1e-4, cv_seed=42, random_state=42,
                 l1_solver="liblinear"):
        self.k = k
        self.l1_solver = l1_solver
        self.ranking = ranking
        self.penalty = penalty
        self.binarize = binarize
        self.binarize_threshold = binarize_threshold
        self.Cs = Cs
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.cv_seed = cv_seed
        self.random_state = random_state

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
        self.lr_ = LRProbe(Cs=self.Cs, penalty=self.penalty, scale=self.scale, max_iter=self.max_iter,
                           tol=self.tol, cv_seed=self.cv_seed, random_state=self.random_state,
                           l1_solver=self.l1_solver)
        self.lr_._fit_encoded(self._select_cols(X), y01)
        self.lr_.classes_ = np.array([0, 1])
        for a in ("C_", "val_auc_", "best_params_", "cv_results_", "n_splits_", "searched_", "n_iter_", "solver_"):
            setattr(self, a, getattr(self.lr_, a))
        self.best_params_ = {**self.lr_.best_params_, "k": len(self.latents_)}

    def decision_function(self, X):
        """Log-odds of ``classes_[1]``, shape [n]."""
        Xk = self._select_cols(self._validate_predict(X))
        return self.lr_._decision(self.lr_._transform(Xk), self.lr_._wt, self.lr_._bt)

    def _proba1(self, X):
        return self.lr_._proba1(self._select_cols(X))


# --------------------------------------------------------------------------- registry
METHODS = {
    "lr": LRProbe,
    "pca": PCAProbe,
    "knn": KNNProbe,
    "xgb": XGBProbe,
    "mlp": MLPProbe,
    "sae": SAETopKProbe,
}


def make_probe(method: str, **params) -> _BinaryProbe:
    """Build a probe by short name (``lr``, ``pca``, ``knn``, ``xgb``, ``mlp``, ``sae``)."""
    try:
        cls = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown probe method {method!r}; choose one of {sorted(METHODS)}.") from None
    return cls(**params)
