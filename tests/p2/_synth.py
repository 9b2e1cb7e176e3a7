"""Synthetic SAEs for P2's tests: random directions and noisy, permuted copies of them."""
from __future__ import annotations

import numpy as np


def random_sae(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(W_dec [n, d], W_enc [d, n]) with distinct random directions; encoder != decoder^T."""
    rng = np.random.default_rng(seed)
    dec = rng.standard_normal((n, d)).astype(np.float32)
    enc = (dec.T + 0.5 * rng.standard_normal((d, n))).astype(np.float32)
    return dec, enc


def perturbed(dec, enc, perm, noise, seed):
    """Row-permuted copy of an SAE with Gaussian noise of relative size ``noise`` per direction."""
    rng = np.random.default_rng(seed)
    d = dec.shape[1]
    scale = np.linalg.norm(dec, axis=1, keepdims=True) / np.sqrt(d)
    dec_b = dec[perm] + noise * scale[perm] * rng.standard_normal(dec.shape).astype(np.float32)
    enc_scale = np.linalg.norm(enc, axis=0, keepdims=True) / np.sqrt(d)
    enc_b = enc[:, perm] + noise * enc_scale[:, perm] * rng.standard_normal(enc.shape).astype(np.float32)
    return dec_b.astype(np.float32), enc_b.astype(np.float32)
