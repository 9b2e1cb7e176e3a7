"""Tests for the P1 results runner (saeprobe.p1) and statistics (saeprobe.stats), synthetic data."""
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from saeprobe.core import stats
from saeprobe.p1 import quiver as Q
from saeprobe.p1 import runner as p1
from saeprobe.p1.probes import C_GRID
from saeprobe.p1.splits import make_splits

N, D, D_SAE = 260, 12, 300


def _labels(ds):
    return np.arange(N) % 2


def _features(ds, source, ood=False):
    rng = np.random.default_rng(7 if ood else 3)
    y = _labels(ds)
    if source == "resid":
        X = rng.normal(size=(N, D)) + 100.0
        X[:, 0] += 1.5 * (2 * y - 1)
        return X
    X = sp.random(N, D_SAE, density=0.02, random_state=1, format="lil")
    X[np.where(y == 1)[0], 42] = 2.0
    return X.tocsr()


def _splits_standard(ds):
    return make_splits("standard", _labels(ds))


def _splits_noise(ds):
    return make_splits("label_noise", _labels(ds))[:2]


SPECS = p1.expand_methods(["lr", "pca", "sae"], saes=["toy"], ks=[1, 4], ranking="raw", penalty="l2",
                          Cs=[1.0, 0.01])


def test_expand_methods():
    assert [s["method"] for s in SPECS] == ["lr", "pca", "sae", "sae"]
    assert SPECS[2] == {"ranking": "raw", "penalty": "l2", "Cs": [1.0, 0.01], "method": "sae", "sae": "toy", "k": 1}


def test_runner_table_and_resume(tmp_path):
    kw = dict(splits=_splits_standard, features=_features, out_dir=tmp_path, n_jobs=1, progress=False)
    df = p1.run_regime("standard", ["a", "b"], SPECS, **kw)
    assert df.attrs["n_computed"] == 8 and len(df) == 8
    assert list(df.columns) == p1.COLUMNS
    assert (tmp_path / "standard.parquet").exists()
    back = p1.load_results(tmp_path, "standard")
    assert len(back) == 8 and set(back["method"]) == {"lr", "pca", "sae"}
    sae = back[(back["method"] == "sae") & (back["k"] == 1)]
    assert all(list(lat) == [42] for lat in sae["latents"])  # planted latent found on TRAIN rows
    assert (back["test_auc"] > 0.8).all() and back["val_auc"].between(0, 1).all()
    assert back["n_train"].iloc[0] == N - 100 and back["n_test"].iloc[0] == 99
    hp = json.loads(back[back["method"] == "lr"]["hyperparameters"].iloc[0])
    assert hp["C"] in list(C_GRID)
    # second run: nothing recomputed, same numbers
    again = p1.run_regime("standard", ["a", "b"], SPECS, **kw)
    assert again.attrs["n_computed"] == 0
    pd.testing.assert_frame_equal(again.drop(columns="latents"), df.drop(columns="latents"))
    # a corrupted cell is recomputed, the rest are not
    cell = next((tmp_path / "cells" / "standard").glob("*.json"))
    cell.write_text("{not json")
    assert p1.run_regime("standard", ["a", "b"], SPECS, **kw).attrs["n_computed"] == 1


def test_runner_parallel_regime_points(tmp_path):
    df = p1.run_regime("label_noise", ["a"], SPECS[:1], splits=_splits_noise, features=_features,
                       out_dir=tmp_path, n_jobs=2, progress=False)
    assert sorted(df["param"]) == [0.0, 0.05]
    assert p1.run_regime("label_noise", ["a"], SPECS[:1], splits=_splits_noise, features=_features,
                         out_dir=tmp_path, n_jobs=2, progress=False).attrs["n_computed"] == 0


def test_bootstrap_ci_covers_mean():
    rng = np.random.default_rng(0)
    v = rng.normal(0.8, 0.05, size=40)
    ci = stats.bootstrap_ci(v)
    assert ci.lo < v.mean() < ci.hi and ci.n == 40
    assert ci.hi - ci.lo < 0.05
    assert stats.bootstrap_ci(v) == ci  # seeded
    with pytest.raises(ValueError, match="no finite values"):
        stats.bootstrap_ci([np.nan])


def test_paired_test_and_compare():
    a = np.linspace(0.8, 0.9, 20)
    res = stats.paired_test(a + 0.01, a)
    assert res["wins"] == 20 and res["p_wilcoxon"] < 1e-3 and res["ci_lo"] > 0
    df = pd.DataFrame({
        "dataset": [f"d{i}" for i in range(20)] * 2, "param": [None] * 40,
        "method": ["lr"] * 20 + ["sae"] * 20, "sae": [None] * 20 + ["16k"] * 20,
        "k": [None] * 20 + [16] * 20, "test_auc": np.r_[a + 0.01, a], "val_auc": np.r_[a, a],
    })
    cmp = Q.compare_methods(df, "lr", "sae:16k:k=16")
    assert len(cmp) == 1 and cmp["wins"].iloc[0] == 20


def test_quiver_prefers_best_val_then_sae():
    df = pd.DataFrame({
        "dataset": ["x", "x", "x", "y", "y"], "param": [None] * 5,
        "method": ["lr", "knn", "sae", "lr", "sae"], "sae": [None, None, "16k", None, "16k"],
        "k": [None, None, 16, None, 16], "val_auc": [0.9, 0.95, 0.95, 0.99, 0.5],
        "test_auc": [0.1, 0.2, 0.3, 0.4, 0.5],
    })
    q = Q.quiver(df).set_index("dataset")
    assert q.loc["x", "chosen"] == "sae:16k:k=16" and q.loc["y", "chosen"] == "lr"
    q0 = Q.quiver(df, include_sae=False).set_index("dataset")
    assert q0.loc["x", "chosen"] == "knn" and q0.loc["x", "test_auc"] == 0.2


def test_specs_from_profile():
    from saeprobe.core.config import load_profile

    prof = load_profile("cpu")
    std = p1.specs_from_profile(prof, "standard", saes=["16k"])
    assert [s["method"] for s in std[:6]] == ["lr", "lr_z", "pca", "knn", "xgb", "mlp"]
    assert tuple(s["k"] for s in std[6:]) == prof.p1.sae_ks_standard
    from saeprobe.saes import sae_specs

    main = [s for s in sae_specs(prof) if s.seed == 0 and s.layer == prof.main_layer and s.arch == "topk"
            and s.k == prof.p1.sae_k]  # P1's own SAEs (k 128), not P2's / P3's k-32 ones
    names = [s.name for s in main]
    wide = [s.name for s in main if s.width in prof.p1.regime_sae_widths]
    assert len(names) == 2 and len(wide) == 1           # two widths in the standard regime, one elsewhere
    assert {s["sae"] for s in p1.specs_from_profile(prof, "standard", saes=names) if s["method"] == "sae"} == set(names)
    ood = p1.specs_from_profile(prof, "ood", saes=names)
    assert ood[-1] == {"penalty": "l1", "ranking": "raw", "method": "sae", "sae": wide[0], "k": 128}
    sc = [s for s in p1.specs_from_profile(prof, "scarcity", saes=names) if s["method"] == "sae"]
    assert [s["k"] for s in sc] == [16, 128] and {s["sae"] for s in sc} == set(wide)
    with pytest.raises(ValueError, match="regime_sae_widths"):
        p1.specs_from_profile(prof, "scarcity", saes=["16k"])


@pytest.mark.real
def test_runner_on_real_smoke_activations(tmp_path):
    """End to end on real data: smoke-profile last-token activations of one P1 dataset (cached by
    saeprobe.activations; extracted with the real model on a miss), the regimes' standard split
    (min_test lowered for the 48-row smoke subset), LR + PCA through the runner."""
    from saeprobe.core import data
    from saeprobe.core.activations import dataset_activations
    from saeprobe.core.config import load_profile

    prof = load_profile("smoke")
    name = prof.dataset_names()[0]
    ds = data.load_dataset(name, max_rows=prof.max_rows, seed=prof.seed)

    def feats(dataset, source, ood=False):
        return dataset_activations(prof, dataset, progress=False).numpy()

    df = p1.run_regime("standard", [name], [{"method": "lr"}, {"method": "pca"}],
                       splits=lambda d: make_splits("standard", ds.labels, min_test=12),
                       features=feats, out_dir=tmp_path, n_jobs=1, progress=False)
    assert len(df) == 2 and df["test_auc"].between(0, 1).all() and df["val_auc"].notna().all()
    assert (df["n_train"] == len(ds.labels) - 12).all()


def test_both_quivers_and_the_computed_verdict(tmp_path):
    specs = p1.expand_methods(["lr", "lr_z", "pca", "sae"], saes=["toy"], ks=[1], ranking="raw", penalty="l2",
                              Cs=[1.0, 0.01])
    df = p1.run_regime("standard", ["a", "b", "c"], specs, splits=_splits_standard, features=_features,
                       out_dir=tmp_path, n_jobs=1, progress=False)
    assert set(df["c_at_edge"].dropna().map(type)) <= {bool} and df.loc[df.method == "pca", "c_at_edge"].isna().all()
    p1q = Q.sae_gain(df, Q.P1_BASELINES)
    strong = Q.sae_gain(df, Q.STRONG_BASELINES)
    assert p1q["baselines"] == ["lr", "pca"] and strong["baselines"] == ["lr", "pca", "lr_z"]
    assert set(strong["base"]["chosen"]) <= {"lr", "lr_z", "pca"} and "lr_z" not in set(p1q["base"]["chosen"])
    assert strong["test"]["n"] == 3 and strong["n_cells"] == 3
    sentence = Q.verdict(strong["test"])
    assert sentence.startswith("Adding SAE probes to the quiver") and "95 % CI" in sentence
    assert "helps" in Q.verdict({"ci_lo": 0.01, "ci_hi": 0.02, "mean_diff": 0.015, "n": 5})
    assert "hurts" in Q.verdict({"ci_lo": -0.02, "ci_hi": -0.01, "mean_diff": -0.015, "n": 5})
    assert "no detectable" in Q.verdict({"ci_lo": -0.01, "ci_hi": 0.02, "mean_diff": 0.005, "n": 5})
    e = Q.edge_share(df).set_index("method")
    assert set(e.index) == {"lr", "lr_z"} and (e["n_cells"] == 3).all()
