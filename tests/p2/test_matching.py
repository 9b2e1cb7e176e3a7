"""Tests for saeprobe.matching (P2's Hungarian matching of SAE latents). Tiny and fast."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from saeprobe import matching as M


def _random_sae(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(W_dec [n, d], W_enc [d, n]) with distinct random directions; encoder != decoder^T."""
    rng = np.random.default_rng(seed)
    dec = rng.standard_normal((n, d)).astype(np.float32)
    enc = (dec.T + 0.5 * rng.standard_normal((d, n))).astype(np.float32)
    return dec, enc


def _perturbed(dec, enc, perm, noise, seed):
    """Row-permuted copy of an SAE with Gaussian noise of relative size ``noise`` per direction."""
    rng = np.random.default_rng(seed)
    d = dec.shape[1]
    scale = np.linalg.norm(dec, axis=1, keepdims=True) / np.sqrt(d)
    dec_b = dec[perm] + noise * scale[perm] * rng.standard_normal(dec.shape).astype(np.float32)
    enc_scale = np.linalg.norm(enc, axis=0, keepdims=True) / np.sqrt(d)
    enc_b = enc[:, perm] + noise * enc_scale[:, perm] * rng.standard_normal(enc.shape).astype(np.float32)
    return dec_b.astype(np.float32), enc_b.astype(np.float32)


def test_recovers_known_permutation_exactly():
    dec, enc = _random_sae(200, 32, seed=0)
    perm = np.random.default_rng(1).permutation(200)
    # B's latent i is A's latent perm[i], rescaled (matching must be scale-invariant)
    scales = np.random.default_rng(2).uniform(0.1, 10, size=200).astype(np.float32)
    b = {"W_dec": dec[perm] * scales[:, None], "W_enc": enc[:, perm] * scales[None, :]}
    r = M.match((dec, enc), b)
    inv = np.argsort(perm)  # A's latent j sits at B index inv[j]
    np.testing.assert_array_equal(r.decoder_partner, inv)
    np.testing.assert_array_equal(r.encoder_partner, inv)
    np.testing.assert_allclose(r.decoder_cos, 1.0, atol=1e-5)
    np.testing.assert_allclose(r.encoder_cos, 1.0, atol=1e-5)
    assert r.shared_fraction == 1.0 and r.decoder_shared_fraction == 1.0 and r.agreement == 1.0
    # B's view is the inverse permutation
    rev = r.reversed()
    np.testing.assert_array_equal(rev.decoder_partner, perm)
    assert rev.shared().all()


def test_shared_fraction_falls_as_noise_grows():
    dec, enc = _random_sae(300, 64, seed=3)
    perm = np.random.default_rng(4).permutation(300)
    both, dec_only, mean_cos = [], [], []
    for noise in (0.0, 0.5, 1.0, 1.5, 3.0):
        r = M.match((dec, enc), _perturbed(dec, enc, perm, noise, seed=5))
        both.append(r.shared_fraction)
        dec_only.append(r.decoder_shared_fraction)
        mean_cos.append(r.mean_decoder_cos)
    assert both[0] == 1.0 and both[-1] < 0.05, both
    assert all(x >= y for x, y in zip(both, both[1:])), both
    assert all(x >= y for x, y in zip(dec_only, dec_only[1:])), dec_only
    assert all(x > y for x, y in zip(mean_cos, mean_cos[1:])), mean_cos
    # AND of two conditions is never more than the decoder condition alone
    assert all(b <= d for b, d in zip(both, dec_only))
    assert 0.0 < both[2] < 1.0  # the noise range actually crosses the threshold


def test_blocked_cost_equals_dense():
    rng = np.random.default_rng(6)
    a = M._unit_rows(rng.standard_normal((103, 20)).astype(np.float32))
    b = M._unit_rows(rng.standard_normal((77, 20)).astype(np.float32))
    dense = a @ b.T
    for block in (1, 7, 50, 103, 1000):
        np.testing.assert_allclose(M.cosine_matrix(a, b, block_rows=block), dense, rtol=0, atol=1e-6)
    out = np.empty((103, 77), dtype=np.float64)
    M.cosine_matrix(a, b, block_rows=10, out=out, negate=True)
    np.testing.assert_allclose(out, -dense, atol=1e-6)
    # the assignment from the blocked negated float64 buffer equals scipy's maximize=True on dense cosines
    from scipy.optimize import linear_sum_assignment

    r = M.match(a, b, block_rows=13)
    rows, cols = linear_sum_assignment(dense, maximize=True)
    assert np.isclose(r.decoder_cos[rows].sum(), dense[rows, cols].sum(), atol=1e-4)
    assert (r.decoder_partner >= 0).sum() == 77  # A is wider: 26 latents unmatched
    assert np.isnan(r.decoder_cos).sum() == 26 and not r.has_encoder


def test_mismatched_d_in_is_one_line_error():
    a, _ = _random_sae(10, 16, seed=0)
    b, _ = _random_sae(10, 24, seed=1)
    with pytest.raises(ValueError, match=r"different input sizes: d_in 16 vs 24") as exc:
        M.match(a, b)
    assert "\n" not in str(exc.value)
    dec, enc = _random_sae(10, 16, seed=0)
    with pytest.raises(ValueError, match=r"W_enc has shape \(10, 16\)"):
        M.match((dec, enc.T), (dec, enc))
    with pytest.raises(TypeError, match="cannot read SAE weights"):
        M.match("sae.pt", (dec, enc))
    with pytest.raises(ValueError, match="no encoder"):
        M.match(dec, dec).shared()


def test_sweep_and_summary():
    dec, enc = _random_sae(100, 32, seed=7)
    r = M.match((dec, enc), _perturbed(dec, enc, np.arange(100), 1.0, seed=8))
    sw = r.sweep()
    assert list(sw.columns) == ["threshold", "shared", "shared_decoder", "shared_encoder"]
    assert sw.threshold.iloc[0] == 0.0 and sw.threshold.iloc[-1] == 1.0
    assert sw.shared.iloc[0] == 1.0 and sw.shared.iloc[-1] == 0.0
    assert (np.diff(sw.shared_decoder) <= 0).all()
    row = sw.loc[np.isclose(sw.threshold, 0.7)].iloc[0]
    assert row.shared == r.shared_fraction
    s = r.summary()
    assert s["shared"] == r.shared_fraction and 0 < s["mean_decoder_cos"] < 1
    assert r.to_frame().shape[0] == 100


def test_multi_seed_counts():
    dec, enc = _random_sae(60, 32, seed=9)
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
    res = M.multi_seed(saes, labels=["s0", "s1", "s2"], progress=False)
    assert len(res.pairs) == 3
    for orig, c in zip(perms, res.counts):  # SAE s's latent i is original latent perm[i]
        assert (c[orig < 30] == 2).all() and (c[orig >= 30] == 0).all()
    assert res.orphan_fraction == pytest.approx(0.5) and res.everywhere_fraction == pytest.approx(0.5)
    h = res.histogram()
    assert list(h.index) == [0, 1, 2] and h["mean"].tolist() == pytest.approx([0.5, 0.0, 0.5])


def test_sharedness_by_and_bootstrap():
    vals = np.linspace(0.001, 1, 100)
    shared = vals > 0.5
    df = M.sharedness_by(vals, shared, bins=4)
    assert df.n.sum() == 100 and df.shared_fraction.iloc[0] == 0 and df.shared_fraction.iloc[-1] == 1
    m, lo, hi = M.bootstrap_ci([0.4, 0.5, 0.6, 0.5])
    assert lo <= m <= hi and m == pytest.approx(0.5)
    assert np.isnan(M.bootstrap_ci([0.3])[1])


def test_cost_estimates():
    assert M.max_width(24e9) == pytest.approx(50_000, rel=0.01)
    assert M.estimate_cost(1000)["buffer_bytes"] == 8e6


def test_real_sae_lens_saes():
    """sae-lens TopK / Standard / JumpReLU SAE objects go in directly."""
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig

    torch.manual_seed(0)
    topk = TopKSAE(TopKSAEConfig(d_in=16, d_sae=48, k=4))
    std = StandardSAE(StandardSAEConfig(d_in=16, d_sae=48))
    jr = JumpReLUSAE(JumpReLUSAEConfig(d_in=16, d_sae=32))
    # a twin of the TopK SAE with permuted latents: matched exactly
    twin = TopKSAE(TopKSAEConfig(d_in=16, d_sae=48, k=4))
    perm = torch.randperm(48)
    with torch.no_grad():
        twin.W_dec.copy_(topk.W_dec[perm] * 3.0)
        twin.W_enc.copy_(topk.W_enc[:, perm])
    r = M.match(topk, twin)
    np.testing.assert_array_equal(r.decoder_partner, np.argsort(perm.numpy()))
    assert r.shared_fraction == 1.0
    # independent random inits share (almost) nothing; different widths are allowed
    r2 = M.match(topk, std)
    assert r2.decoder_shared_fraction < 0.2 and r2.n_b == 48
    r3 = M.match(std, jr)
    assert (r3.decoder_partner >= 0).sum() == 32 and r3.has_encoder
    # the sae-lens tensors are untouched (no in-place normalization)
    assert torch.equal(twin.W_dec, topk.W_dec[perm] * 3.0)


def test_sparse_candidates_match_dense():
    dec, enc = _random_sae(150, 32, seed=11)
    perm = np.random.default_rng(12).permutation(150)
    b = _perturbed(dec, enc, perm, 1.0, seed=13)
    dense = M.match((dec, enc), b)
    # all candidates: the same optimum as the dense solver
    full = M.match((dec, enc), b, candidates=150, device="cpu")
    assert full.approximate and not dense.approximate
    assert np.isclose(np.nansum(full.decoder_cos), np.nansum(dense.decoder_cos), atol=1e-3)
    # few candidates: the shared latents (cos > 0.7) are found all the same
    few = M.match((dec, enc), b, candidates=4, device="cpu")
    np.testing.assert_array_equal(few.shared(), dense.shared())
    np.testing.assert_array_equal(few.decoder_partner[dense.shared()], dense.decoder_partner[dense.shared()])
    # rectangular, and candidates=1 still finds a full matching through the fallback edges
    r = M.match(dec[:100], dec[perm], candidates=1, device="cpu")
    assert (r.decoder_partner >= 0).all() and len(set(r.decoder_partner)) == 100
    np.testing.assert_allclose(r.decoder_cos, 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="pass candidates="):
        M.match(dec, dec, max_dense_gb=1e-6)


def test_notebook_helpers():
    import scipy.sparse as sp
    from dataclasses import dataclass, asdict

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

    specs = [Spec("topk", 64, 1), Spec("topk", 64, 0), Spec("topk", 128, 0), Spec("standard", 64, 0), Spec("standard", 64, 2)]
    g = M.seed_groups(specs)
    assert list(g) == ["topk-w64-L12", "standard-w64-L12"]
    assert [s.seed for s in g["topk-w64-L12"]] == [0, 1]

    codes = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 0], [3.0, 0, 0], [0, 0, 0]], dtype=np.float32))
    np.testing.assert_allclose(M.latent_frequency(codes), [0.5, 0.25, 0.0])
    np.testing.assert_allclose(M.latent_frequency(codes.toarray()), [0.5, 0.25, 0.0])
    ex = M.top_examples(codes, [0], token_ids=[10, 11, 12, 13], text_index=[0, 0, 0, 1],
                        decode=lambda ids: "".join(chr(96 + i - 9) for i in ids), n=2, before=1, after=1)
    assert ex.context.tolist() == ["b«c»", "a«b»c"] and ex.activation.tolist() == [3.0, 1.0]

    dec, enc = _random_sae(50, 16, seed=20)
    perm = np.random.default_rng(21).permutation(50)
    r = M.match((dec, enc), {"W_dec": dec[perm], "W_enc": enc[:, perm]})
    inv = np.argsort(perm)
    o = M.probe_latent_overlap([3, 7, 9], inv[[3, 7, 9]], r)
    assert o["overlap"] == 1.0 and o["top1_same"] == 1.0 and o["chosen_shared"] == 1.0
    o2 = M.probe_latent_overlap([3, 7], inv[[10, 11]], r)
    assert o2["overlap"] == 0.0 and o2["chance"] == pytest.approx(2 / 50)
    summ = M.pair_summary(pd.DataFrame({"shared": [0.5, 0.6, 0.7]}))
    assert summ["n_pairs"] == 3 and summ["shared_lo"] <= summ["shared"] <= summ["shared_hi"]


def test_match_cache_roundtrip(tmp_path):
    dec, enc = _random_sae(40, 16, seed=30)
    b = _perturbed(dec, enc, np.random.default_rng(31).permutation(40), 1.0, seed=32)
    r1 = M.match((dec, enc), b, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("match-*.safetensors"))) == 1
    r2 = M.match((dec, enc), b, cache_dir=tmp_path, threshold=0.5)  # threshold applies at read time
    np.testing.assert_array_equal(r1.decoder_partner, r2.decoder_partner)
    np.testing.assert_array_equal(r1.encoder_cos, r2.encoder_cos)
    assert r2.threshold == 0.5 and r2.shared_fraction >= r1.shared_fraction
    b2 = (b[0] * 1.0001, b[1])  # different weights -> a new entry
    M.match((dec, enc), b2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("match-*.safetensors"))) == 2


def test_paired_auc_diff():
    rng = np.random.default_rng(40)
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    good = y + rng.normal(0, 0.5, 200)
    bad = y + rng.normal(0, 3.0, 200)
    d, lo, hi = M.paired_auc_diff(y, good, bad, n_boot=300)
    assert d > 0 and lo > 0 and hi >= d >= lo
    d0, lo0, hi0 = M.paired_auc_diff(y, good, good, n_boot=50)
    assert d0 == 0 and lo0 == 0 and hi0 == 0


def test_paired_auc_diff_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(41)
    y = rng.integers(0, 2, 80)
    a, b = rng.normal(size=80) + y, np.round(rng.normal(size=80), 1)  # ties in b
    d, _, _ = M.paired_auc_diff(y, a, b, n_boot=10)
    assert d == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    with pytest.raises(ValueError, match="two classes"):
        M.paired_auc_diff(np.zeros(5), a[:5], b[:5])
