"""saeprobe.p3.protocol: macro F1, the nested split, the TF-IDF baseline and the C path, the grids."""
import numpy as np
import pandas as pd
import pytest

from saeprobe.p3 import protocol
from saeprobe.p3.protocol import Config


def test_macro_f1_known_confusion():
    # confusion (rows true, cols pred): [[3,1,0],[0,2,2],[1,0,1]]
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 2, 0, 2]
    f1 = [2 * 3 / (2 * 3 + 1 + 1), 2 * 2 / (2 * 2 + 1 + 2), 2 * 1 / (2 * 1 + 2 + 1)]
    assert protocol.macro_f1(y_true, y_pred) == pytest.approx(np.mean(f1))
    assert protocol.macro_f1([0, 1, 1, 0], [0, 1, 1, 0]) == 1.0


def test_split_is_stratified_and_nested():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, test, inner, val = protocol.split(y, seed=42)
    assert len(test) == 20 and len(train) == 80
    assert set(train).isdisjoint(test) and set(inner) | set(val) == set(train) and set(inner).isdisjoint(val)
    np.testing.assert_array_equal(np.bincount(y[test]), [10, 6, 4])
    again = protocol.split(y, seed=42)
    assert all((a == b).all() for a, b in zip((train, test, inner, val), again))


def test_profile_split_uses_the_settings(tmp_profile):
    y = np.repeat([0, 1], [30, 30])
    s = tmp_profile.p3
    got = protocol.profile_split(s, y)
    want = protocol.split(y, test_size=s.test_size, val_size=s.val_size, seed=s.seed)
    assert all((a == b).all() for a, b in zip(got, want))


def test_tfidf_separable_corpus_and_c_path():
    cats = [f"the cat number {i} purrs and meows on the warm sofa" for i in range(20)]
    money = [f"stock market index {i} falls as bank raises interest rates" for i in range(20)]
    texts = np.array(cats + money, dtype=object)
    y = np.array([0] * 20 + [1] * 20)
    train, test, inner, val = protocol.split(y)
    vec = protocol.tfidf_vectorizer()
    assert vec.get_params()["ngram_range"] == (1, 2) and vec.get_params()["max_features"] == 20000
    vec.fit(texts[train])
    X = vec.transform(texts)
    res = protocol.c_path(X, y, train, val, inner, test, [0.1, 1.0, 10.0], class_weight="balanced")
    assert [r["C"] for r in res] == [0.1, 1.0, 10.0]
    assert all(r["test_f1"] == 1.0 and r["val_f1"] == 1.0 for r in res)
    # a foreign-language test set shares no vocabulary: every row is empty (TF-IDF cannot transfer)
    Xo = vec.transform(["le chat ronronne sur le canapé", "la bourse chute fortement"])
    assert Xo.nnz == 0
    # tfidf_features is the same fit: identical matrices, the other set transformed with its vocabulary
    X2, Xo2 = protocol.tfidf_features(list(texts), train, ["le chat ronronne sur le canapé", "la bourse chute"])
    assert (X2 != X).nnz == 0 and Xo2.nnz == 0 and Xo2.shape == (2, X.shape[1])


def test_standardize_uses_training_rows():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]])
    Xs, (mu, sd) = protocol.standardize(X, np.array([0, 1]))
    np.testing.assert_allclose(mu, [2.0, 5.0])
    np.testing.assert_allclose(sd, [1.0, 1.0])  # constant column: SD 0 -> 1
    np.testing.assert_allclose(Xs[:2], [[-1.0, 0.0], [1.0, 0.0]])


def _table():
    return pd.DataFrame([{"layer": 4, "width": 256, "name": "a4", "main": True},
                         {"layer": 12, "width": 256, "name": "a12", "main": True},
                         {"layer": 12, "width": 128, "name": "b12", "main": False}])


def test_grid_configs_pooling_and_widths(tmp_profile):
    s = tmp_profile.p3
    pool = protocol.grid_configs(tmp_profile, _table(), which="pooling")
    assert pool[0] == Config("tfidf")
    assert [c.label for c in pool[1:13]] == [f"hidden {p} L{lay}{w}" for lay in (4, 8, 12) for w in ("", " wide-C")
                                            for p in ("last", "mean")]
    assert [c.wide_c for c in pool[1:5]] == [False, False, True, True]
    sae = [c for c in pool if c.kind == "sae"]
    n_forms = 7  # count/sum x {all, top20}, max, mean, last
    assert len(sae) == 2 * n_forms * len(s.binarize) and {c.sae for c in sae} == {"a4", "a12"}
    widths = protocol.grid_configs(tmp_profile, _table(), which="widths")
    # notebook 42's hand-built list before the split: the same configurations, in the same order
    want = [Config("tfidf")]
    for layer in (4, 8, 12):
        want += [Config("hidden", layer=layer, pooling="last"), Config("hidden", layer=layer, pooling="mean"),
                 Config("hidden", layer=layer, pooling="last", wide_c=True),
                 Config("hidden", layer=layer, pooling="mean", wide_c=True)]
    for _, r in _table().iterrows():
        want += [Config("sae", int(r.layer), r["name"], int(r.width), "count", 0, 1.0),
                 Config("sae", int(r.layer), r["name"], int(r.width), "sum", 0, None)]
    assert widths == want
    assert protocol.grid_configs(tmp_profile, _table().iloc[:0], which="widths") == want[:13]
    assert not any(c.wide_c for c in protocol.grid_configs(tmp_profile.replace(p3={"hidden_C_grid": None}), _table()))
    with pytest.raises(ValueError, match="which"):
        protocol.grid_configs(tmp_profile, _table(), which="nope")


def test_mosaic_config_label():
    cfgs = [Config("tfidf"), Config("sae", 12, "a", 256, "count", 20, 1.0), Config("sae", 12, "a", 256, "count", 0, None),
            Config("sae", 12, "a", 256, "count", 0, 1.0), Config("sae", 4, "a", 256, "count", 0, 1.0)]
    assert protocol.mosaic_config_label(cfgs, 12) == "SAE count all >1 L12 w256"
    assert protocol.mosaic_config_label(cfgs, 8) is None
