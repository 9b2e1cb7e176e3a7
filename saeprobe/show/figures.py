"""One figure style for the book, one colour per method, and figures glued for captions.

``style()`` applies ``saeprobe.mplstyle`` (next to this file). ``color(label)`` gives the same colour
to the same method on every page (raw names such as ``lr_z`` and readable ones such as
``LR, z-scored`` alike; an SAE keeps its colour across k). ``figure(fig, key)`` glues ``fig`` under
``key`` without showing it, for a numbered, captioned ``{glue:figure}`` with alt text in the page::

    :::{glue:figure} p1_std_k_curve
    :name: fig-10-k-curve
    :alt: Mean test AUC of each SAE probe against k, with both logistic regressions as lines.

    SAE probes' mean test AUC against k ...
    :::
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from saeprobe.show import labels
from saeprobe.show.labels import METHODS, method_label

STYLE = Path(__file__).with_name("saeprobe.mplstyle")
# Okabe & Ito (2008) and Paul Tol's muted scheme: distinguishable under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#999933", "#882255",
           "#332288", "#44AA99", "#CC6677", "#117733", "#AA4499", "#661100", "#6699CC", "#888888")
_FIXED = {
    "LR (P1's)": "#0072B2", "LR, z-scored": "#56B4E9", "LR (P1's optimiser)": "#332288", "PCA + LR": "#009E73",
    "KNN": "#999933", "XGBoost": "#E69F00", "MLP": "#888888", "attention probe": "#000000",
    "concat-PCA + LR": "#44AA99", "TF-IDF + LR": "#117733", "hidden state + LR": "#332288", "random": "#BBBBBB",
    # P1's quivers (best-of ensembles, not methods): greys, and a purple for "with SAE probes" no method uses
    "quiver (P1's baselines)": "#999999", "quiver (P1's baselines) + SAE": "#CC99BB",
    "quiver (strong baselines)": "#444444", "quiver (strong baselines) + SAE": "#AA3377", "quiver + SAE": "#AA3377",
}
_SAE = {("TopK", "128"): "#EE7733", ("TopK", "256"): "#EE3377", ("TopK", "1k"): "#CC6677", ("TopK", "4k"): "#D55E00", ("TopK", "16k"): "#882255",
        ("TopK", "64k"): "#AA4499", ("BatchTopK", None): "#E69F00", ("Matryoshka", None): "#117733",
        ("ReLU-L1", None): "#CC79A7", ("JumpReLU", None): "#661100", ("Gated", None): "#6699CC"}
_SAE_RE = re.compile(r"^SAE (?P<width>\d+k?) (?P<arch>[A-Za-z-]+?)(?:-\d+)?(?: \(|,|$)")


def style() -> None:
    """Apply the book's matplotlib style (call once, after importing matplotlib)."""
    import matplotlib.pyplot as plt

    plt.style.use(STYLE)


def color(label) -> str:
    """The colour of a method on every page: fixed for the baselines and P1's quivers, by
    (architecture, width) for an SAE (the same SAE at any k), else a stable hash of the name into
    :data:`PALETTE`."""
    s = str(label)
    readable = METHODS.get(s) or (method_label(s) if s.startswith("sae:") or "-w" in s else s)
    if readable in _FIXED:
        return _FIXED[readable]
    m = _SAE_RE.match(readable)
    if m:
        arch, width = m["arch"], m["width"]
        for key in ((arch, width), (arch, None)):
            if key in _SAE:
                return _SAE[key]
        readable = f"SAE {width} {arch}"
    i = int(hashlib.sha256(readable.encode()).hexdigest(), 16) % len(PALETTE)
    return PALETTE[i]


def figure(fig, key: str) -> None:
    """Glue ``fig`` under ``key`` (shown where the page's ``{glue:figure}`` names it) and close it;
    nothing is displayed here."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(key, fig, display=False)
    plt.close(fig)


def setup(profile=None) -> None:
    """A page's one call: the book's figure style, and (with ``profile``) its main layer, so that SAE
    labels name a layer only when it is not the main one."""
    style()
    if profile is not None:
        labels.MAIN_LAYER = int(profile.main_layer) if getattr(profile, "main_layer", None) is not None else None
