"""saeprobe.p2.analysis: sharedness vs frequency, top examples, probes across seeds, verdict rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _synth import random_sae

from saeprobe.p2 import analysis as A
from saeprobe.p2 import matching as M


def test_sharedness_by():
    vals = np.linspace(0.001, 1, 100)
    shared = vals > 0.5
    df = A.sharedness_by(vals, shared, bins=4)
    assert df.n.sum() == 100 and df.shared_fraction.iloc[0] == 0 and df.shared_fraction.iloc[-1] == 1


def test_frequency_examples_and_probe_overlap():
    codes = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 0], [3.0, 0, 0], [0, 0, 0]], dtype=np.float32))
    np.testing.assert_allclose(A.latent_frequency(codes), [0.5, 0.25, 0.0])
    np.testing.assert_allclose(A.latent_frequency(codes.toarray()), [0.5, 0.25, 0.0])
    ex = A.top_examples(codes, [0], token_ids=[10, 11, 12, 13], text_index=[0, 0, 0, 1],
                        decode=lambda ids: "".join(chr(96 + i - 9) for i in ids), n=2, before=1, after=1)
    assert ex.context.tolist() == ["b«c»", "a«b»c"] and ex.activation.tolist() == [3.0, 1.0]

    dec, enc = random_sae(50, 16, seed=20)
    perm = np.random.default_rng(21).permutation(50)
    r = M.match((dec, enc), {"W_dec": dec[perm], "W_enc": enc[:, perm]})
    inv = np.argsort(perm)
    o = A.probe_latent_overlap([3, 7, 9], inv[[3, 7, 9]], r)
    assert o["overlap"] == 1.0 and o["top1_same"] == 1.0 and o["chosen_shared"] == 1.0
    o2 = A.probe_latent_overlap([3, 7], inv[[10, 11]], r)
    assert o2["overlap"] == 0.0 and o2["chance"] == pytest.approx(2 / 50)


def test_paired_auc_diff():
    rng = np.random.default_rng(40)
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    good = y + rng.normal(0, 0.5, 200)
    bad = y + rng.normal(0, 3.0, 200)
    d, lo, hi = A.paired_auc_diff(y, good, bad, n_boot=300)
    assert d > 0 and lo > 0 and hi >= d >= lo
    d0, lo0, hi0 = A.paired_auc_diff(y, good, good, n_boot=50)
    assert d0 == 0 and lo0 == 0 and hi0 == 0


def test_paired_auc_diff_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(41)
    y = rng.integers(0, 2, 80)
    a, b = rng.normal(size=80) + y, np.round(rng.normal(size=80), 1)  # ties in b
    d, _, _ = A.paired_auc_diff(y, a, b, n_boot=10)
    assert d == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    with pytest.raises(ValueError, match="two classes"):
        A.paired_auc_diff(np.zeros(5), a[:5], b[:5])


def _series(xs, ys, half=0.01):
    return pd.DataFrame({"x": xs, "shared": ys, "shared_lo": np.array(ys) - half, "shared_hi": np.array(ys) + half})


def test_verdict_rules():
    assert A.trend_verdict({}) == (None, None)
    assert A.trend_verdict({"a": _series([1, 2], [0.8, 0.5])}) == ("**reproduces**", True)
    assert A.trend_verdict({"a": _series([1, 2], [0.6, 0.59], half=0.05)})[0].startswith("same direction")
    assert A.trend_verdict({"a": _series([1, 2], [0.5, 0.8])})[0] == "**does not reproduce** (it rises)"
    assert "w1→0.800" in A.describe_trend({"a": _series([1, 2], [0.8, 0.5])}, "w")
    t = {"shared_decoder": 0.5, "shared_decoder_lo": 0.45, "shared_decoder_hi": 0.55}
    l1 = {"shared_decoder": 0.8, "shared_decoder_lo": 0.75, "shared_decoder_hi": 0.85}
    assert A.stability_verdict(t, l1) == ("**reproduces**", True)
    assert A.stability_verdict(l1, t)[0] == "**does not reproduce** (TopK is the more stable one)"
    assert A.format_ci(np.nan, np.nan) == "n/a (one seed pair)" and A.format_ci(0.1, 0.2) == "[0.100, 0.200]"
    d = A.glue_defaults()
    assert np.isnan(d["p2_topk_shared"]) and d["p2_width_verdict"] == "not measured"


def test_manifest_metric():
    class S:
        saeprobe_manifest = {"metrics": {"l0": 31.5, "freq": [0.1]}}

    assert A.manifest_metric(S(), "l0") == 31.5 and np.isnan(A.manifest_metric(S(), "freq"))
    assert np.isnan(A.manifest_metric(object(), "l0"))
