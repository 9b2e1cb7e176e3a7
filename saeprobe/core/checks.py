"""Input checks shared by the papers' estimators: bad values get one line naming where they are.

:func:`check_finite` is run before any probe sees a feature matrix, so a NaN or inf (a corrupt
activation, an overflowed pooled sum) is reported as ``rows [...] x columns [...]`` of the matrix
the caller named, instead of scikit-learn's generic "Input contains NaN".
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["NonFiniteFeatures", "check_finite"]


class NonFiniteFeatures(ValueError):
    """A feature matrix holds NaN or inf; the message names rows and columns."""


def _show(idx: np.ndarray, limit: int = 5) -> str:
    idx = np.unique(idx)
    head = ", ".join(str(int(i)) for i in idx[:limit])
    return f"[{head}{', ...' if len(idx) > limit else ''}] ({len(idx)} in all)"


def check_finite(X, what: str = "X") -> None:
    """Raise :class:`NonFiniteFeatures` if ``X`` (dense ``[n, d]`` or scipy sparse) holds NaN or inf.

    The one-line message names the matrix (``what``), the offending rows and columns (the first
    five of each, and how many) and what to do.
    """
    if sp.issparse(X):
        coo = sp.coo_matrix(X)
        bad = ~np.isfinite(coo.data)
        if not bad.any():
            return
        rows, cols, vals = coo.row[bad], coo.col[bad], coo.data[bad]
    else:
        A = np.asarray(X)
        if A.dtype.kind not in "fc":
            return
        mask = ~np.isfinite(A)
        if not mask.any():
            return
        if A.ndim == 1:
            rows, cols = np.flatnonzero(mask), np.zeros(int(mask.sum()), dtype=int)
        else:
            rows, cols = np.nonzero(mask)
        vals = A[mask]
    kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in np.ravel(vals)})
    raise NonFiniteFeatures(
        f"{what} holds {'/'.join(kinds)} at rows {_show(rows)} x columns {_show(cols)}; "
        "recompute those features (a corrupt cache entry is removed by deleting it) or drop the rows")
