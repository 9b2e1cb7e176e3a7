"""The result of matching SAE A's latents to SAE B's (P2, Paulo & Belrose 2025): partners and matched
cosines per latent of A, for decoder and encoder directions, and what follows from them (shared
fractions under P2's two definitions, agreement, threshold sweeps)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from saeprobe.core.settings import P2Settings

__all__ = ["DEFAULT_THRESHOLD", "MatchResult"]

#: P2's cosine threshold for a shared latent (the settings' default: ``p2.threshold``).
DEFAULT_THRESHOLD = P2Settings().threshold


def _gt(x: np.ndarray, t: float) -> np.ndarray:
    """``x > t`` with NaN (unmatched) -> False."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(x, nan=-np.inf) > t


def _invert(partner: np.ndarray, cos: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.full(n_b, -1, dtype=np.int64)
    c = np.full(n_b, np.nan, dtype=np.float32)
    ok = partner >= 0
    p[partner[ok]] = np.nonzero(ok)[0]
    c[partner[ok]] = cos[ok]
    return p, c


@dataclass(frozen=True)
class MatchResult:
    """Matching of SAE A's latents to SAE B's (per latent of A).

    Attributes:
        decoder_partner: ``[n_a]`` int64 index of the matched latent in B (decoder directions);
            -1 when A is wider than B and the latent is left unmatched.
        decoder_cos: ``[n_a]`` float32 cosine with that partner (NaN when unmatched).
        encoder_partner, encoder_cos: the same for encoder directions (``None`` when either input
            had no encoder weights).
        threshold: cosine a match must exceed to count as shared (default 0.7, P2).
        n_b: number of latents in B.
        seconds: wall time of the matching.
        approximate: True when the sparse candidate matching was used (``match(candidates=...)``).
    """

    decoder_partner: np.ndarray
    decoder_cos: np.ndarray
    encoder_partner: np.ndarray | None
    encoder_cos: np.ndarray | None
    threshold: float = DEFAULT_THRESHOLD
    n_b: int = 0
    seconds: float = 0.0
    approximate: bool = False

    @property
    def n_a(self) -> int:
        return int(self.decoder_partner.shape[0])

    @property
    def has_encoder(self) -> bool:
        return self.encoder_cos is not None

    def _need_encoder(self) -> None:
        if not self.has_encoder:
            raise ValueError("this matching has no encoder directions; pass SAEs with W_enc, or use the decoder-only numbers")

    # --- masks
    def shared(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: decoder cosine > t AND encoder cosine > t (P2's definition)."""
        self._need_encoder()
        t = self.threshold if threshold is None else threshold
        return _gt(self.decoder_cos, t) & _gt(self.encoder_cos, t)

    def shared_decoder(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: decoder cosine > t (P2's model/architecture comparisons)."""
        return _gt(self.decoder_cos, self.threshold if threshold is None else threshold)

    def shared_encoder(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: encoder cosine > t."""
        self._need_encoder()
        return _gt(self.encoder_cos, self.threshold if threshold is None else threshold)

    # --- scalars
    @property
    def shared_fraction(self) -> float:
        """Fraction of A's latents shared under the decoder-AND-encoder definition."""
        return float(self.shared().mean())

    @property
    def decoder_shared_fraction(self) -> float:
        """Fraction of A's latents whose decoder match exceeds the threshold."""
        return float(self.shared_decoder().mean())

    @property
    def agreement(self) -> float:
        """Fraction of A's latents whose encoder partner is the same B latent as the decoder partner."""
        self._need_encoder()
        ok = self.decoder_partner >= 0
        return float((self.decoder_partner[ok] == self.encoder_partner[ok]).sum() / self.n_a)

    @property
    def mean_decoder_cos(self) -> float:
        return float(np.nanmean(self.decoder_cos))

    @property
    def mean_encoder_cos(self) -> float:
        self._need_encoder()
        return float(np.nanmean(self.encoder_cos))

    def summary(self) -> dict[str, float]:
        """Scalars in one dict (encoder-based entries are NaN when there is no encoder)."""
        nan = float("nan")
        enc = self.has_encoder
        return {
            "n_a": self.n_a,
            "n_b": self.n_b,
            "threshold": self.threshold,
            "shared": self.shared_fraction if enc else nan,
            "shared_decoder": self.decoder_shared_fraction,
            "shared_encoder": float(self.shared_encoder().mean()) if enc else nan,
            "agreement": self.agreement if enc else nan,
            "mean_decoder_cos": self.mean_decoder_cos,
            "mean_encoder_cos": self.mean_encoder_cos if enc else nan,
            "seconds": self.seconds,
        }

    def sweep(self, thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """Shared fractions as the threshold goes 0 → 1.

        Returns a DataFrame with columns ``threshold``, ``shared`` (decoder AND encoder; NaN without
        an encoder), ``shared_decoder``, ``shared_encoder``.
        """
        ts = np.round(np.linspace(0.0, 1.0, 21), 4) if thresholds is None else np.asarray(thresholds, float)
        rows = []
        for t in ts:
            rows.append(
                {
                    "threshold": float(t),
                    "shared": float(self.shared(t).mean()) if self.has_encoder else np.nan,
                    "shared_decoder": float(self.shared_decoder(t).mean()),
                    "shared_encoder": float(self.shared_encoder(t).mean()) if self.has_encoder else np.nan,
                }
            )
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per latent of A: partners, cosines and shared flags."""
        df = pd.DataFrame({"decoder_partner": self.decoder_partner, "decoder_cos": self.decoder_cos})
        if self.has_encoder:
            df["encoder_partner"] = self.encoder_partner
            df["encoder_cos"] = self.encoder_cos
            df["shared"] = self.shared()
        df["shared_decoder"] = self.shared_decoder()
        df.index.name = "latent"
        return df

    def reversed(self) -> "MatchResult":
        """The same matching seen from B's side (per latent of B). Exact: an optimal assignment of A
        to B is an optimal assignment of B to A."""
        dp, dc = _invert(self.decoder_partner, self.decoder_cos, self.n_b)
        ep = ec = None
        if self.has_encoder:
            ep, ec = _invert(self.encoder_partner, self.encoder_cos, self.n_b)
        return MatchResult(dp, dc, ep, ec, self.threshold, self.n_a, self.seconds, self.approximate)
