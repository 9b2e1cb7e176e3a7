"""Tests for saeprobe.probes (P1 estimators). Synthetic data only; whole file runs in seconds."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from saeprobe.p1 import baselines, lr
from saeprobe.p1.probes import (
    C_GRID,
    KNNProbe,
    LRProbe,
    MLPProbe,
    PCAProbe,
    SAETopKProbe,
    XGBProbe,
    inner_splits,
    make_probe,
    rank_latents,
)
from saeprobe.p1.validation import P1InnerCV


def toy(n=120, d=8, seed=0, sep=2.0, offset=0.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    X = rng.normal(size=(n, d)) + offset
    X[:, 0] += sep * (2 * y - 1)
    return X, y


def test_c_grid_is_p1():
    assert np.allclose(C_GRID, np.logspace(5, -5, 10)) and C_GRID[0] == 1e5


@pytest.mark.parametrize("n,expected", [(10, None), (60, 6), (600, 1)])
def test_inner_cv_rule_is_used(n, expected, monkeypatch):
    X, y = toy(n)
    calls = []
    import saeprobe.p1.base as base

    class Spy(P1InnerCV):
        def split(self, X=None, y=None, groups=None):
            calls.append((len(y), self.seed))
            return super().split(X, y)

    monkeypatch.setattr(base, "P1InnerCV", Spy)
    p = LRProbe().fit(X, y)
    assert calls == [(n, 42)]
    folds = list(P1InnerCV(seed=42).split(X, y))
    assert p.n_splits_ == len(folds)
    if expected is not None:
        assert p.n_splits_ == expected
    if n == 600:  # hold-out of the last min(20%, 100) rows
        tr, va = folds[0]
        assert list(va) == list(range(500, 600)) and list(tr) == list(range(500))
    if n == 10:  # LeavePOut(2), folds whose validation pair lacks a class dropped
        assert p.n_splits_ == int((y == 1).sum() * (y == 0).sum())
    assert len(p.cv_results_) == len(C_GRID)
    assert p.val_auc_ == max(r["val_auc"] for r in p.cv_results_)
    # P1's argmax: first (largest-C) candidate among ties
    best = [r["val_auc"] for r in p.cv_results_]
    assert p.C_ == C_GRID[int(np.argmax(best))]


def test_tiny_n_no_search():
    X, y = toy(3)
    y = np.array([0, 1, 1])
    p = LRProbe().fit(X, y)
    assert p.C_ == 1.0 and not p.searched_ and p.n_splits_ == 0


@pytest.mark.parametrize("cls", [LRProbe, PCAProbe, KNNProbe, SAETopKProbe])
def test_single_class_is_a_clear_error(cls):
    X, _ = toy(20)
    with pytest.raises(ValueError, match="only one class") as e:
        cls().fit(np.abs(X), np.ones(20, dtype=int))
    assert "\n" not in str(e.value)


def test_lr_matches_plain_sklearn_on_separable_toy():
    X, y = toy(200, sep=3.0, offset=50.0)
    Xte, yte = toy(200, seed=1, sep=3.0, offset=50.0)
    for C in (1.0, 1e-3):
        ours = LRProbe(Cs=[C], tol=1e-10).fit(X, y)
        ref = LogisticRegression(C=C, max_iter=10_000, tol=1e-10).fit(X, y)
        np.testing.assert_allclose(ours.coef_, ref.coef_.ravel(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_[0], rtol=1e-4, atol=1e-5)
        a = roc_auc_score(yte, ours.predict_proba(Xte)[:, 1])
        b = roc_auc_score(yte, ref.predict_proba(Xte)[:, 1])
        assert abs(a - b) < 1e-9
        np.testing.assert_allclose(ours.predict_proba(Xte), ref.predict_proba(Xte), atol=1e-5)
    full = LRProbe().fit(X, y)
    assert roc_auc_score(yte, full.decision_function(Xte)) > 0.98


def test_lr_sparse_equals_dense():
    X, y = toy(150, d=20)
    X = np.maximum(X, 0)
    a = LRProbe(Cs=[0.1], tol=1e-10).fit(X, y)
    b = LRProbe(Cs=[0.1], tol=1e-10).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(sp.csr_matrix(X)), atol=1e-4)


def test_string_labels_and_classes():
    X, y = toy(80)
    ys = np.where(y == 1, "pos", "neg")
    p = LRProbe().fit(X, ys)
    assert list(p.classes_) == ["neg", "pos"]
    assert set(p.predict(X)) <= {"neg", "pos"}
    assert (p.predict(X) == ys).mean() > 0.9


def sparse_codes(n=300, d=2000, planted=137, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    X = sp.random(n, d, density=0.01, random_state=seed, format="lil") * 5.0
    X[:, planted] = 0
    on = (y == 1) & (rng.random(n) < 0.8)
    X[np.where(on)[0], planted] = 3.0 + rng.random(on.sum())
    return X.tocsr(), y


@pytest.mark.parametrize("ranking", ["raw", "normalized"])
def test_sae_probe_recovers_planted_latent(ranking):
    X, y = sparse_codes()
    assert rank_latents(X, y, ranking)[0] == 137
    p = SAETopKProbe(k=4, ranking=ranking).fit(X, y)
    assert p.latents_[0] == 137 and len(p.latents_) == 4
    assert p.best_params_["k"] == 4
    Xt, yt = sparse_codes(seed=1)
    assert roc_auc_score(yt, p.predict_proba(Xt)[:, 1]) > 0.85
    # dense input gives the same choice; binarized variant works too
    q = SAETopKProbe(k=1, ranking=ranking, binarize=True, estimator=LRProbe(penalty="l2")).fit(X.toarray(), y)
    assert list(q.latents_) == [137]
    assert q.estimator_.penalty == "l2" and q.estimator.penalty == "l2" and not hasattr(q.estimator, "coef_")


def test_sae_ranking_uses_train_only_and_normalization():
    X, y = sparse_codes()
    X = X.toarray()
    X[:, 5] = 0.0
    X[y == 1, 5] = 1000.0 * (np.arange((y == 1).sum()) % 50 == 0)  # rare, huge: wins raw ranking only
    assert rank_latents(X, y, "raw")[0] == 5
    assert rank_latents(X, y, "normalized")[0] == 137


@pytest.mark.parametrize("cls", [PCAProbe, KNNProbe])
def test_baselines_learn(cls):
    X, y = toy(150, d=30)
    Xt, yt = toy(150, d=30, seed=1)
    p = cls().fit(X, y)
    assert roc_auc_score(yt, p.predict_proba(Xt)[:, 1]) > 0.9
    assert 0.5 < p.val_auc_ <= 1.0 and p.best_params_


def test_xgb_and_mlp_draws_match_p1_code():
    import random

    rng = random.Random(42)
    first = {k: rng.choice(list(v)) for k, v in baselines._XGB_SPACE.items()}
    assert baselines._xgb_draws(10, 42)[0] == {k: v.item() for k, v in first.items()}
    X, y = toy(200, d=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = XGBProbe(n_iter=3).fit(X, y)
        m = MLPProbe(max_iter=200).fit(X, y)
    assert x.best_params_ in baselines._xgb_draws(3, 42)
    assert len(x.cv_results_) == 3 and x.val_auc_ == max(r["val_auc"] for r in x.cv_results_)
    Xt, yt = toy(200, d=6, seed=1)
    assert roc_auc_score(yt, x.predict_proba(Xt)[:, 1]) > 0.8
    assert roc_auc_score(yt, m.predict_proba(Xt)[:, 1]) > 0.8
    assert m.best_params_ == baselines._mlp_draws(1, 42)[0]


def test_make_probe_unknown():
    with pytest.raises(ValueError, match="unknown probe method"):
        make_probe("svm")
    assert isinstance(make_probe("sae", k=3), SAETopKProbe)


def test_inner_splits_matches_splitter():
    _, y = toy(40)
    a, b = inner_splits(y), list(P1InnerCV(seed=42).split(None, y))
    assert len(a) == len(b) and all((x[0] == z[0]).all() and (x[1] == z[1]).all() for x, z in zip(a, b))


def test_make_probe_sae_routes_lr_settings_to_its_estimator():
    p = make_probe("sae", k=3, ranking="raw", penalty="l1", Cs=[1.0])
    assert isinstance(p.estimator, LRProbe) and p.estimator.penalty == "l1" and p.estimator.Cs == [1.0]
    assert p.k == 3 and p.ranking == "raw"
    with pytest.raises(ValueError, match="inside estimator="):
        make_probe("sae", k=3, penalty="l2", estimator=LRProbe())
    X, y = sparse_codes()
    default = SAETopKProbe(k=4).fit(X, y)
    routed = make_probe("sae", k=4, penalty="l1").fit(X, y)
    np.testing.assert_array_equal(default.decision_function(X), routed.decision_function(X))
    assert default.C_ == routed.C_ and default.solver_ == routed.solver_


def _peer():
    import importlib.util

    spec = importlib.util.find_spec("sae_probes")
    path = list(spec.submodule_search_locations)[0] + "/utils_training.py"
    mspec = importlib.util.spec_from_file_location("sae_probes_utils_training_t", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lr_verbatim_mode_equals_sae_probes_find_best_reg(dtype):
    """p1_budget > max_iter reproduces the package's own LR grid exactly (val AUC, C, test AUC) --
    on float32 activations too, where P1's scikit-learn (1.6) still fitted lbfgs in float64."""
    n = 200
    ref = _peer()
    X, y = toy(n + 100, d=6, sep=1.0, offset=30.0)
    X = X.astype(np.float32).astype(np.float64)  # values a float32 array can hold exactly
    Xtr, ytr, Xte, yte = X[:n], y[:n], X[n:], y[n:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ref.find_best_reg(Xtr, ytr, Xte, yte, seed=42)  # float64: P1's numerics
        ours = LRProbe(p1_budget=10_000).fit(Xtr.astype(dtype), ytr)
        Xte = Xte.astype(dtype)
    assert ours.C_ == res.classifier.C
    assert ours.val_auc_ == pytest.approx(res.metrics.val_auc, abs=1e-12)
    np.testing.assert_allclose(ours.coef_, res.classifier.coef_.ravel(), rtol=1e-6, atol=1e-10)
    assert roc_auc_score(yte, ours.predict_proba(Xte)[:, 1]) == pytest.approx(res.metrics.test_auc, abs=1e-12)


def _l1_objective(X, y, w, b, C):
    """P1's L1 logistic objective ||w||_1 + C * sum log(1 + exp(-s (Xw + b))), s = +-1."""
    z = (2 * y - 1) * (X @ w + b)
    return np.abs(w).sum() + C * np.logaddexp(0, -z).sum()


@pytest.mark.parametrize("C", [0.05, 1.0])
def test_l1_liblinear_reaches_the_l1_optimum(C):
    """The default L1 solver (liblinear on centred, rescaled features) and a tightly converged saga
    (P1's solver) land on the same L1 optimum; the loose P1-style saga does not do better."""
    X, _ = toy(160, 12, seed=3, sep=0.8, offset=5.0)
    y = (np.arange(160) % 4 == 0).astype(int)  # imbalanced: the intercept is far from 0 and
    X[:, 0] += 0.8 * (2 * y - 1)                 # must not be shrunk by liblinear's intercept penalty
    lib = LRProbe(penalty="l1", Cs=[C]).fit(X, y)
    tight = LRProbe(penalty="l1", Cs=[C], l1_solver="saga", tol=1e-10, max_iter=100_000).fit(X, y)
    f_lib = _l1_objective(X, y, lib.coef_, lib.intercept_, C)
    f_tight = _l1_objective(X, y, tight.coef_, tight.intercept_, C)
    assert f_lib <= f_tight * (1 + 1e-3)
    assert np.allclose(lib.coef_, tight.coef_, atol=2e-2 * np.abs(tight.coef_).max())
    assert set(np.flatnonzero(np.abs(lib.coef_) > 1e-3)) == set(np.flatnonzero(np.abs(tight.coef_) > 1e-3))
    with pytest.raises(ValueError, match="l1_solver"):
        LRProbe(penalty="l1", l1_solver="sag").fit(X, y)


def test_l1_liblinear_hands_crawling_fits_to_saga(monkeypatch):
    """A liblinear fit that reaches L1_LIBLINEAR_MAX_ITER is continued by saga from its iterate, and
    so is every larger C of the path; the final fit at such a C uses saga too."""
    X, y = toy(160, 12, seed=4, sep=1.0, offset=3.0)
    C = 1.0
    ref = LRProbe(penalty="l1", Cs=[C]).fit(X, y)
    assert not ref._saga_Cs
    monkeypatch.setattr(lr, "L1_LIBLINEAR_MAX_ITER", 1)  # every fit "crawls"
    e = LRProbe(penalty="l1", Cs=[1e-3, C, 10 * C]).fit(X, y)
    assert {C, 10 * C} <= e._saga_Cs
    one = LRProbe(penalty="l1", Cs=[C]).fit(X, y)
    assert ref.solver_ == "liblinear" and one.solver_ == "saga"
    f = _l1_objective(X, y, one.coef_, one.intercept_, C)
    assert f <= _l1_objective(X, y, ref.coef_, ref.intercept_, C) * (1 + 1e-2)


def test_z_scored_lr_and_the_grid_edge_flag():
    from saeprobe.p1.probes import Z_C_GRID, GridEdgeWarning, ZLRProbe

    X, y = toy(300, 20, seed=5, sep=0.6, offset=50.0)
    X[:, 1:] *= np.geomspace(1, 1e3, 19)  # wildly different feature scales
    z = ZLRProbe().fit(X, y)
    assert z.scale == "standardize" and z.Cs is None and len(z.cv_results_) == len(Z_C_GRID)
    assert z.C_ in Z_C_GRID and z.c_at_edge_ == (z.C_ in (Z_C_GRID.max(), Z_C_GRID.min()))
    from saeprobe.p1 import lr as lr_mod

    lr_mod._EDGE_WARNED.discard("LRProbe")
    with pytest.warns(GridEdgeWarning, match="the largest of its grid"):
        edge = LRProbe(Cs=[1e-9, 1e-10, 1e-11]).fit(X, y)  # far too strong everywhere: the weakest wins
    assert edge.c_at_edge_ and edge.C_ == 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridEdgeWarning)  # once per process: no second warning
        assert LRProbe(Cs=[1e-9, 1e-10, 1e-11]).fit(X, y).c_at_edge_
    assert not LRProbe(Cs=[1.0]).fit(X, y).c_at_edge_  # nothing searched, nothing to flag
    sae = SAETopKProbe(k=3, estimator=ZLRProbe(Cs=[10.0, 1.0, 0.1])).fit(*sparse_codes())
    assert sae.c_at_edge_ in (True, False) and sae.estimator_.scale == "standardize"
