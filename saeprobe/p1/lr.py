"""P1's logistic-regression probe (Kantamneni et al. 2025): P1's C grid and inner validation, solved
on centred, rescaled features (the same objective and stopping rule, far better conditioned).

See :mod:`saeprobe.p1.probes` for how this differs from P1's code and what it costs.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from saeprobe.p1.base import BinaryProbe, auc, fold_has_two, inner_splits

__all__ = ["C_GRID", "Z_C_GRID", "GridEdgeWarning", "LRProbe", "ZLRProbe"]

#: P1's inverse-regularisation grid, in P1's order (ties in validation AUC go to the first = largest C).
C_GRID = np.logspace(5, -5, 10)
#: The z-scored baseline's grid: half-decade steps wide enough that its choice is interior on
#: this model (on z-scored activations the useful C are far below P1's grid's floor of 1e-5 * scale^2).
Z_C_GRID = np.logspace(2, -6, 17)


class GridEdgeWarning(UserWarning):
    """The C chosen by validation is the largest or smallest of the grid: widen the grid."""


_EDGE_WARNED: set[str] = set()  # probe classes that have warned in this process (once is enough)
#: liblinear's constant intercept feature for L1 fits, in units of the rescaled features' RMS (1).
L1_INTERCEPT_SCALING = 100.0
#: liblinear Newton steps before an L1 fit is handed to saga (converged fits on SAE codes take 0-35).
L1_LIBLINEAR_MAX_ITER = 50


class LRProbe(BinaryProbe):
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

    Notes
    -----
    Fitted attributes: ``coef_`` [d] and ``intercept_`` (float) in the *original* feature space,
    ``C_`` (chosen C, P1 units), ``c_at_edge_`` (C is the grid's largest or smallest, after a
    search over more than two values; a :class:`GridEdgeWarning` says so), ``val_auc_``,
    ``best_params_``, ``cv_results_``, ``searched_``,
    ``solver_`` (the sklearn solver of the final fit: lbfgs, liblinear or saga).
    """

    _accept_sparse = "csr"
    _default_Cs = C_GRID

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
        Cs = [float(c) for c in (self._default_Cs if self.Cs is None else np.atleast_1d(self.Cs))]
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
                if not fold_has_two(y01, tr):
                    return [0.5] * len(Cs)  # P1: neutral score for single-class training folds
                models = self._path(Xt[tr], y01[tr], Cs, Xraw[tr])
                # P1 scores predict_proba: float64 expit saturates to exactly 1.0 for logits > ~37,
                # and those ties lower the AUC of large-C fits -- part of how P1 picks C; keep it
                return [auc(y01[va], expit(self._decision(Xt[va], *models[i]))) for i in range(len(Cs))]

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
        self.c_at_edge_ = bool(self.searched_ and len(Cs) > 2 and C in (max(Cs), min(Cs)))
        if self.c_at_edge_ and type(self).__name__ not in _EDGE_WARNED:
            _EDGE_WARNED.add(type(self).__name__)
            warnings.warn(f"{type(self).__name__}: validation chose C = {C:g}, the {'largest' if C == max(Cs) else 'smallest'} "
                          f"of its grid [{min(Cs):g}, {max(Cs):g}]; the optimum may lie outside it (widen Cs). Said "
                          "once per process; every fit records it in c_at_edge_", GridEdgeWarning, stacklevel=3)
        w = self._wt.ravel() / self._sd
        self.coef_ = w
        self.intercept_ = float(self._bt[0] - w @ self._mu)
        if val_auc is None:  # P1: no search -> report training AUC
            val_auc = auc(y01, expit(self._decision(Xt, self._wt, self._bt)))
            self.cv_results_, self.n_splits_ = [], 0
        self.val_auc_ = val_auc

    def decision_function(self, X):
        """Log-odds of ``classes_[1]``, shape [n]."""
        X = self._validate_predict(X)
        return self._decision(self._transform(X), self._wt, self._bt)

    def _proba1(self, X):
        return expit(self._decision(self._transform(X), self._wt, self._bt))


class ZLRProbe(LRProbe):
    """The strong logistic-regression baseline beside P1's: per-feature z-scoring
    (``scale="standardize"``) and the wide grid :data:`Z_C_GRID`, so the choice is interior where
    P1's raw-activation LR sits at its grid's floor (``c_at_edge_`` records it). Same selection
    rule, inner validation and refit as :class:`LRProbe`."""

    def __init__(self, Cs=None, penalty="l2", scale="standardize", warm_start=True, max_iter=1000,
                 tol=1e-4, p1_budget=0, cv_seed=42, random_state=42, l1_solver="liblinear"):
        super().__init__(Cs=Cs, penalty=penalty, scale=scale, warm_start=warm_start, max_iter=max_iter, tol=tol,
                         p1_budget=p1_budget, cv_seed=cv_seed, random_state=random_state, l1_solver=l1_solver)

    _default_Cs = Z_C_GRID
