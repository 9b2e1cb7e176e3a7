"""Spurious latents under covariate shift (saeprobe.p1.spurious): the relevance proxies on planted
data, the pruning order and the pruning curve's bookkeeping."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from saeprobe.p1 import spurious as SP
from saeprobe.p1.lr import LRProbe


def _shifted(n=300, seed=0):
    """Three sparse "latents": 0 carries the label in both domains, 1 carries it in-distribution only
    and goes silent out of distribution (a domain feature, e.g. an English word), 2 is noise."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int))
    yo = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int))

    def codes(lab, domain_on):
        z = np.zeros((n, 3))
        z[:, 0] = np.maximum(0, 1.0 * lab + rng.normal(0, 0.7, n))
        z[:, 1] = np.maximum(0, 2.0 * lab + rng.normal(0, 0.3, n)) * domain_on
        z[:, 2] = np.maximum(0, rng.normal(0, 1, n))
        return z

    return codes(y, 1.0), y, codes(yo, 0.0), yo


def test_firing_shift_and_mean_shift_flag_the_domain_latent():
    Z, y, Zo, yo = _shifted()
    f_id, f_ood, shift = SP.firing_shift(sp.csr_matrix(Z), Zo)
    assert f_ood[1] == 0 and f_id[1] > 0.4
    assert np.argmax(shift) == 1 and np.isfinite(shift).all()
    ms = SP.mean_shift(Z, Zo)
    assert np.argmax(ms) == 1


def test_relevance_proxies_rank_as_intended():
    Z, y, Zo, yo = _shifted()
    rel_shift = SP.relevance("shift", Z, y, Zo, sparse_codes=True)
    assert SP.prune_order(rel_shift)[0] == 1  # the domain latent is pruned first
    rel_auc = SP.relevance("id_auc", Z, y, Zo, sparse_codes=True)
    assert SP.prune_order(rel_auc)[0] == 2  # by ID AUC, the noise latent goes first
    assert rel_auc[1] > rel_auc[0] > rel_auc[2]  # and the domain latent looks *most* relevant in-distribution
    with pytest.raises(ValueError, match="unknown proxy"):
        SP.relevance("llm", Z, y, Zo, sparse_codes=True)


def test_single_feature_auc_is_oriented_on_train():
    Z, y, Zo, yo = _shifted()
    a = SP.single_feature_auc(-Z[:, 0], y, -Z[:, 0], y)  # anti-correlated: oriented, not < 0.5
    assert a > 0.7
    assert SP.single_feature_auc(Z[:, 1], y, Zo[:, 1], yo) == 0.5  # silent OOD: chance


def test_prune_order_ties_keep_the_first_column_longest():
    assert SP.prune_order([1.0, 1.0, 1.0]).tolist() == [2, 1, 0]
    assert SP.prune_order([0.3, -1.0, 0.5]).tolist() == [1, 0, 2]


def test_pruning_curve_shape_and_bookkeeping():
    Z, y, Zo, yo = _shifted()
    tests = {"id": (Z, y), "ood": (Zo, yo)}
    order = SP.prune_order(SP.relevance("shift", Z, y, Zo, sparse_codes=True))
    c = SP.pruning_curve(LRProbe(penalty="l1"), Z, y, tests, order, names=[100, 101, 102])
    assert len(c) == 3 and c.n_removed.tolist() == [0, 1, 2] and c.n_kept.tolist() == [3, 2, 1]
    assert c.removed.tolist() == [None, 101, 102]
    assert c.kept.tolist() == [(100, 101, 102), (100, 102), (100,)]
    for a, b in zip(c.kept[:-1], c.kept[1:]):  # each step removes exactly one feature
        assert set(b) < set(a) and len(a) - len(b) == 1
    assert {"auc_id", "auc_ood"} <= set(c.columns) and c[["auc_id", "auc_ood"]].notna().all().all()
    # pruning the domain latent helps out of distribution: the planted signal is in latent 0
    assert c.auc_ood.iloc[1] > c.auc_ood.iloc[0] and c.auc_ood.iloc[1] > 0.75
    assert SP.prune_delta(c, 1) == pytest.approx(c.auc_ood.iloc[2] - c.auc_ood.iloc[0])
    with pytest.raises(ValueError, match="permutation"):
        SP.pruning_curve(LRProbe(), Z, y, tests, [0, 0, 1])
    with pytest.raises(ValueError, match="no step"):
        SP.prune_delta(c, 7)


def test_random_pruning_averages_curves():
    Z, y, Zo, yo = _shifted(n=120)
    tests = {"ood": (Zo, yo)}
    r = SP.random_pruning(LRProbe(), Z, y, tests, n_orders=2, seed=0)
    assert r.n_kept.tolist() == [3, 2, 1] and (r.n_orders == 2).all()
    assert r.auc_ood.iloc[0] == pytest.approx(SP.pruning_curve(LRProbe(), Z, y, tests, [0, 1, 2]).auc_ood.iloc[0])
    assert SP.random_pruning(LRProbe(), Z, y, tests, n_orders=0).empty


def test_pca_features_and_top_prompts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) * np.array([10, 5, 1, 1, 1, 1])
    P, (Q,) = SP.pca_features(X, [X[:7]], 3)
    assert P.shape == (50, 3) and Q.shape == (7, 3)
    np.testing.assert_allclose(Q, P[:7], atol=1e-9)
    assert (np.diff(P.var(0)) <= 1e-12).all()  # components by explained variance
    texts = ["short one", "x" * 200, "third"]
    tp = SP.top_prompts(np.array([0.0, 2.0, 1.0]), texts, n=3, tail=10)
    assert tp == ["…" + "x" * 10, "third"]  # inactive rows are not shown
    assert isinstance(pd.DataFrame({"p": tp}), pd.DataFrame)


def test_spurious_experiment_end_to_end_on_planted_data():
    from saeprobe.p1.splits import standard_split

    rng = np.random.default_rng(1)
    Z3, y, Zo3, yo = _shifted(n=240)
    pad = lambda A: np.hstack([A, np.maximum(0, rng.normal(-1, 1, (len(A), 9)))])  # 12 latents, 9 mostly silent
    Z, Zo = sp.csr_matrix(pad(Z3)), sp.csr_matrix(pad(Zo3))
    X, Xo = rng.normal(size=(240, 6)) + y[:, None], rng.normal(size=(240, 6)) + yo[:, None]
    split = standard_split(y, seed=42, min_test=60)
    out = SP.spurious_experiment(Z, X, split, Zo, Xo, yo, k=4, n_random=2)
    tab, cur = out["latents"], out["curves"]
    assert len(tab) == 4 and tab["rank"].tolist() == [0, 1, 2, 3] and {0, 1} <= set(tab.latent)
    assert sorted(tab.prune_step_shift) == [0, 1, 2, 3]
    assert tab.set_index("latent").loc[1, "prune_step_shift"] == 0  # the domain latent goes first
    assert set(cur.features) == {"SAE latents", "PCA directions"} and set(cur.order) == {"shift", "id_auc", "random"}
    for _, g in cur.groupby(["features", "order"]):
        assert g.n_kept.tolist() == [4, 3, 2, 1] and g.n_removed.tolist() == [0, 1, 2, 3]
    full = cur[(cur.features == "SAE latents") & (cur.n_kept == 4)].auc_ood
    assert np.allclose(full, full.iloc[0])  # every order starts from the same probe
