"""saeprobe.p2.seeds: seed-replica groups, the group each page reports, multi-seed counts, pair CIs."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest
from _synth import random_sae

from saeprobe.p2 import seeds as S


@dataclass(frozen=True)
class Spec:
    arch: str
    width: int
    seed: int
    layer: int = 12

    @property
    def name(self):
        return f"{self.arch}-w{self.width}-s{self.seed}-L{self.layer}"

    def to_dict(self):
        return asdict(self)


def test_multi_seed_counts():
    dec, enc = random_sae(60, 32, seed=9)
    n = 60
    # three "seeds": the first 30 latents are shared by all, the last 30 are fresh in each SAE
    saes, perms = [], []
    for s in range(3):
        rng = np.random.default_rng(100 + s)
        d2, e2 = dec.copy(), enc.copy()
        d2[30:] = rng.standard_normal((30, 32))
        e2[:, 30:] = rng.standard_normal((32, 30))
        perm = rng.permutation(n)
        perms.append(perm)
        saes.append({"W_dec": d2[perm], "W_enc": e2[:, perm]})
    res = S.multi_seed(saes, labels=["s0", "s1", "s2"], progress=False)
    assert len(res.pairs) == 3
    for orig, c in zip(perms, res.counts):  # SAE s's latent i is original latent perm[i]
        assert (c[orig < 30] == 2).all() and (c[orig >= 30] == 0).all()
    assert res.orphan_fraction == pytest.approx(0.5) and res.everywhere_fraction == pytest.approx(0.5)
    h = res.histogram()
    assert list(h.index) == [0, 1, 2] and h["mean"].tolist() == pytest.approx([0.5, 0.0, 0.5])


def test_seed_groups_and_the_main_group():
    specs = [Spec("topk", 64, 1), Spec("topk", 64, 0), Spec("topk", 128, 0), Spec("standard", 64, 0),
             Spec("standard", 64, 2), Spec("topk", 128, 1), Spec("topk", 256, 0), Spec("topk", 256, 1)]
    g = S.seed_groups(specs)
    assert list(g) == ["topk-w64-L12", "topk-w128-L12", "standard-w64-L12", "topk-w256-L12"]
    assert [s.seed for s in g["topk-w64-L12"]] == [0, 1]
    # most seeds, then the widest, ties: the first
    assert S.main_groups(g) == {"topk": "topk-w256-L12", "standard": "standard-w64-L12"}
    assert S.main_groups(g, archs=["standard"]) == {"standard": "standard-w64-L12"}
    g3 = S.seed_groups(specs + [Spec("topk", 64, 2)])
    assert S.main_groups(g3)["topk"] == "topk-w64-L12"  # three seeds beat a wider pair


def test_pair_summary_uses_the_one_bootstrap():
    from saeprobe.core.stats import bootstrap_ci

    summ = S.pair_summary(pd.DataFrame({"shared": [0.5, 0.6, 0.7]}), n_boot=500, seed=3)
    assert summ["n_pairs"] == 3 and summ["shared_lo"] <= summ["shared"] <= summ["shared_hi"]
    assert (summ["shared"], summ["shared_lo"], summ["shared_hi"]) == tuple(bootstrap_ci([0.5, 0.6, 0.7], n_boot=500, seed=3))
    one = S.pair_summary(pd.DataFrame({"shared": [0.4]}))
    assert one["shared"] == 0.4 and np.isnan(one["shared_lo"]) and np.isnan(one["shared_hi"])
    none = S.pair_summary(pd.DataFrame({"shared": [np.nan]}))
    assert np.isnan(none["shared"])


def _old_matching_bootstrap_ci(values, *, n_boot=2000, level=0.95, seed=0):
    """The deleted ``matching.bootstrap_ci`` (n_boot 2000, seed 0, NaNs on empty input), verbatim."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    if len(v) == 1:
        return (float(v[0]), np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return (float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


def test_pair_summary_numbers_unchanged_by_the_one_bootstrap():
    # the old test's assertions on matching.bootstrap_ci, through pair_summary's defaults
    summ = S.pair_summary(pd.DataFrame({"shared": [0.4, 0.5, 0.6, 0.5]}))
    assert summ["shared_lo"] <= summ["shared"] <= summ["shared_hi"] and summ["shared"] == pytest.approx(0.5)
    assert np.isnan(S.pair_summary(pd.DataFrame({"shared": [0.3]}))["shared_lo"])
    # bit for bit what the old function gave, for the settings the pages use
    for vals in ([0.4, 0.5, 0.6, 0.5], [0.2, np.nan, 0.9], [0.3], [np.nan], []):
        for n_boot, seed in ((2000, 0), (2000, 42), (200, 42)):
            got = S.pair_summary(pd.DataFrame({"shared": np.asarray(vals, float)}), n_boot=n_boot, seed=seed)
            old = _old_matching_bootstrap_ci(vals, n_boot=n_boot, seed=seed)
            np.testing.assert_array_equal([got["shared"], got["shared_lo"], got["shared_hi"]], old)
