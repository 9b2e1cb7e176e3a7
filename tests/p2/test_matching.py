"""saeprobe.p2.matching / result: P2's Hungarian matching of SAE latents. Tiny and fast."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from _synth import perturbed, random_sae

from saeprobe.p2 import matching as M


def test_recovers_known_permutation_exactly():
    dec, enc = random_sae(200, 32, seed=0)
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
    dec, enc = random_sae(300, 64, seed=3)
    perm = np.random.default_rng(4).permutation(300)
    both, dec_only, mean_cos = [], [], []
    for noise in (0.0, 0.5, 1.0, 1.5, 3.0):
        r = M.match((dec, enc), perturbed(dec, enc, perm, noise, seed=5))
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
    a, _ = random_sae(10, 16, seed=0)
    b, _ = random_sae(10, 24, seed=1)
    with pytest.raises(ValueError, match=r"different input sizes: d_in 16 vs 24") as exc:
        M.match(a, b)
    assert "\n" not in str(exc.value)
    dec, enc = random_sae(10, 16, seed=0)
    with pytest.raises(ValueError, match=r"W_enc has shape \(10, 16\)"):
        M.match((dec, enc.T), (dec, enc))
    with pytest.raises(TypeError, match="cannot read SAE weights"):
        M.match("sae.pt", (dec, enc))
    with pytest.raises(ValueError, match="no encoder"):
        M.match(dec, dec).shared()


def test_sweep_and_summary():
    dec, enc = random_sae(100, 32, seed=7)
    r = M.match((dec, enc), perturbed(dec, enc, np.arange(100), 1.0, seed=8))
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
    dec, enc = random_sae(150, 32, seed=11)
    perm = np.random.default_rng(12).permutation(150)
    b = perturbed(dec, enc, perm, 1.0, seed=13)
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


def test_match_cache_roundtrip(tmp_path):
    dec, enc = random_sae(40, 16, seed=30)
    b = perturbed(dec, enc, np.random.default_rng(31).permutation(40), 1.0, seed=32)
    r1 = M.match((dec, enc), b, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("match-*.safetensors"))) == 1
    r2 = M.match((dec, enc), b, cache_dir=tmp_path, threshold=0.5)  # threshold applies at read time
    np.testing.assert_array_equal(r1.decoder_partner, r2.decoder_partner)
    np.testing.assert_array_equal(r1.encoder_cos, r2.encoder_cos)
    assert r2.threshold == 0.5 and r2.shared_fraction >= r1.shared_fraction
    b2 = (b[0] * 1.0001, b[1])  # different weights -> a new entry
    M.match((dec, enc), b2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("match-*.safetensors"))) == 2


def test_cost_estimates_of_the_benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "matching.py"
    spec = importlib.util.spec_from_file_location("bench_matching", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.max_width(24e9) == pytest.approx(50_000, rel=0.01)
    assert bench.estimate_cost(1000)["buffer_bytes"] == 8e6
    assert bench.estimate_cost(32768)["seconds"] > bench.MEASURED["related"][16384]
