"""P1's feature and split plumbing (saeprobe.p1.features) on the real smoke data."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from saeprobe.core.config import load_profile
from saeprobe.p1 import features as F
from saeprobe.p1 import splits as S


class _ToySAE:
    """Stands in for an SAE: ReLU of a fixed random projection (saes.encode only needs cfg and encode)."""

    def __init__(self, d_in, d_sae=32):
        g = torch.Generator().manual_seed(0)
        self.W_enc = torch.randn(d_in, d_sae, generator=g)
        self.cfg = type("cfg", (), {"d_in": d_in, "d_sae": d_sae})()

    def encode(self, x):
        return torch.relu(x @ self.W_enc)


def test_main_sae_specs_follow_the_profile():
    prof = load_profile("smoke")
    specs = F.main_sae_specs(prof)
    assert specs and all(s.seed == 0 and s.layer == prof.main_layer for s in specs)
    only = F.main_sae_specs(load_profile("smoke", p1={"sae_archs": ["jumprelu"]}))
    assert [s.arch for s in only] == ["jumprelu"]


@pytest.mark.real
def test_load_features_and_regime_splits_on_smoke():
    prof = load_profile("smoke")
    names = list(prof.ood_datasets[:1])
    feats = F.load_features(prof, names, ood=True, saes={"toy": _ToySAE(640)})
    name = names[0]
    X = feats(name, "resid")
    assert X.shape == (len(feats.labels[name]), 640) and isinstance(X, np.ndarray)
    codes = feats(name, "toy", ood=True)
    assert sp.issparse(codes) and codes.shape[1] == 32 and codes.shape[0] == len(feats.ood_labels[name])
    with pytest.raises(KeyError, match="no features 'nope'"):
        feats(name, "nope")
    std = F.regime_splits(prof, "standard", feats)(name)
    ref = S.make_splits("standard", feats.labels[name], seed=prof.seed, min_test=prof.p1.min_test)
    assert len(std) == 1 and (std[0].train_idx == ref[0].train_idx).all() and (std[0].test_idx == ref[0].test_idx).all()
    noise = F.regime_splits(prof, "label_noise", feats)(name)
    assert [s.param for s in noise] == list(prof.p1.noise_fracs)
    ood = F.regime_splits(prof, "ood", feats)(name)
    assert ood[0].num_test == len(feats.ood_labels[name])
    # 48 rows: with the profile's min_test (12) the imbalance rule splits; with P1's 100 it needs ~200
    usable, skipped = F.usable_datasets(names, F.regime_splits(prof, "imbalance", feats))
    assert usable == names and not skipped
    imb = F.regime_splits(prof, "imbalance", feats)(name)
    assert [s.param for s in imb] == list(prof.p1.imbalance_fracs) and all(s.num_test >= prof.p1.min_test for s in imb)
    p1_rule = load_profile("smoke", p1={"min_test": 100})
    usable, skipped = F.usable_datasets(names, F.regime_splits(p1_rule, "imbalance", feats))
    assert usable == [] and "too few rows" in skipped[0][1] and "100 test rows" in skipped[0][1]
    with pytest.raises(ValueError, match="unknown regime"):
        F.regime_splits(prof, "nope", feats)(name)
