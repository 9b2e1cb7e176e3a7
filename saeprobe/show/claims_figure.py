"""The claims at a glance: every recorded claim's number, ours with its 95 % CI against the paper's,
one row per claim, grouped by paper, coloured by the computed verdict. Drawn on the claims page and,
from the same function, saved for the book's front page (:func:`save_png`)."""
from __future__ import annotations

import os

import numpy as np

from saeprobe.core.cache import atomic_write

VERDICT_COLOURS = {"reproduces": "#009E73", "partly": "#E69F00", "does not": "#D55E00", "not run here": "#888888"}


def _kind(verdict: str) -> str:
    return verdict if verdict in VERDICT_COLOURS else "not run here"


def claims_figure(table, *, title: str | None = None):
    """A figure of ``table`` (:func:`saeprobe.core.claims.assemble`'s columns) -- one row per claim with
    a number (ours or the paper's); ``None`` when there is none. Rows: ``paper · id``; ✕ the paper's
    value, ● ours with its CI bar."""
    import matplotlib.pyplot as plt

    num = table[np.isfinite(table["ours"].astype(float)) | np.isfinite(table["paper_value"].astype(float))]
    num = num.sort_values(["paper", "page", "id"], kind="stable").reset_index(drop=True)
    if not len(num):
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.3 * len(num) + 1.3))
    y = np.arange(len(num))[::-1]
    for yi, r in zip(y, num.itertuples()):
        c = VERDICT_COLOURS[_kind(str(r.verdict))]
        if np.isfinite(r.ci_lo) and np.isfinite(r.ci_hi):
            ax.plot([r.ci_lo, r.ci_hi], [yi, yi], color=c, lw=2.5, alpha=0.75, solid_capstyle="butt")
        if np.isfinite(r.ours):
            ax.plot(r.ours, yi, "o", color=c, ms=5)
        if np.isfinite(r.paper_value):
            ax.plot(r.paper_value, yi, "x", color="k", ms=7, mew=1.8)
    papers = list(num["paper"])
    for i in range(1, len(papers)):  # a rule between papers
        if papers[i] != papers[i - 1]:
            ax.axhline(y[i] + 0.5, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, [f"{p} · {i}" for p, i in zip(num["paper"], num["id"])], fontsize=7.5)
    ax.set_xlabel("value (✕ the paper's; ● ours with 95 % CI)")
    ax.grid(axis="y", visible=False)
    for k, c in VERDICT_COLOURS.items():
        ax.plot([], [], "o", color=c, label=k)
    ax.plot([], [], "x", color="k", label="paper's number")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_png(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically (the front page shows it)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
