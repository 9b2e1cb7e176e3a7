"""Readable names for methods, SAEs and table columns.

``method_label("sae:topk-w4096-k128-s0-L12:k=16")`` -> ``"SAE 4k TopK-128, k = 16"``;
``method_label("lr_z")`` -> ``"LR, z-scored"``; a name it does not know is returned unchanged, so
the helpers never hide a method.
"""
from __future__ import annotations

import re

_SAE_RE = re.compile(r"^(?P<arch>[a-z_]+)-w(?P<width>\d+)-(?P<sp>k\d+|l1_[^-]+|l0_[^-]+)-s(?P<seed>\d+)"
                     r"(?:-L(?P<layer>\d+))?(?:-F(?P<fam>[0-9a-f]+))?$")
#: the page's main layer (set by :func:`saeprobe.show.setup`): SAE labels name other layers only
MAIN_LAYER: int | None = None
_ARCH = {"topk": "TopK", "batchtopk": "BatchTopK", "matryoshka": "Matryoshka", "standard": "ReLU-L1",
         "jumprelu": "JumpReLU", "gated": "Gated"}
METHODS = {
    "lr": "LR (P1's)", "lr_z": "LR, z-scored", "lr_p1": "LR (P1's optimiser)", "pca": "PCA + LR", "knn": "KNN",
    "xgb": "XGBoost", "mlp": "MLP", "attention": "attention probe", "concat_pca": "concat-PCA + LR",
    "tfidf": "TF-IDF + LR", "hidden": "hidden state + LR", "random": "random",
}
COLUMNS = {
    "test_auc": "test AUC", "val_auc": "validation AUC", "mean_test_auc": "mean test AUC",
    "mean_val_auc": "mean validation AUC", "p_wilcoxon": "Wilcoxon p", "mean_diff": "mean difference",
    "n": "n", "n_datasets": "datasets", "dataset": "dataset", "method": "method", "sae": "SAE", "k": "k",
    "ce_recovered": "CE recovered", "fve": "FVE", "l0": "L0", "dead_frac": "dead fraction",
    "tokens_seen": "tokens seen", "train_seconds": "training s", "macro_f1": "macro F1", "auc": "AUC",
    "c_at_edge": "C at grid edge", "share": "share", "shared_frac": "shared fraction", "value": "value",
}


def _width(w: int) -> str:
    return f"{w // 1024}k" if w >= 1024 and w % 1024 == 0 else str(w)


def sae_label(name: str, *, main_layer: int | None = None) -> str:
    """``topk-w4096-k128-s0-L12`` -> ``4k TopK-128`` (+ ``, L12`` unless it is ``main_layer``,
    ``, seed 1`` for seeds other than 0, ``, corpus F1a2b3c`` for a family split). Unknown: unchanged."""
    m = _SAE_RE.match(str(name))
    if not m:
        return str(name)
    main_layer = MAIN_LAYER if main_layer is None else main_layer
    arch = _ARCH.get(m["arch"], m["arch"])
    sp = m["sp"]
    out = f"{_width(int(m['width']))} {arch}"
    if sp.startswith("k"):
        out += f"-{sp[1:]}"
    elif sp.startswith("l1_"):
        out += f" (L1 {sp[3:]})"
    else:
        out += f" (L0 {sp[3:]})"
    if m["layer"] is not None and (main_layer is None or int(m["layer"]) != main_layer):
        out += f", L{m['layer']}"
    if int(m["seed"]) != 0:
        out += f", seed {m['seed']}"
    if m["fam"]:
        out += f", corpus F{m['fam']}"
    return out


def method_label(name, *, main_layer: int | None = None) -> str:
    """A results label (``lr``, ``sae:<sae name>:k=16``, ``sae:16k:k=16``) as a reader's name."""
    s = str(name)
    if s.startswith("sae:"):
        body, _, k = s[4:].rpartition(":k=")
        if not body:  # "sae:<name>" without k
            return f"SAE {sae_label(s[4:], main_layer=main_layer)}"
        return f"SAE {sae_label(body, main_layer=main_layer)}, k = {k}"
    if s in METHODS:
        return METHODS[s]
    if _SAE_RE.match(s):
        return f"SAE {sae_label(s, main_layer=main_layer)}"
    return s


def column_label(col) -> str:
    """``mean_test_auc`` -> ``mean test AUC``; a name with spaces or capitals is kept as written."""
    c = str(col)
    if c in COLUMNS:
        return COLUMNS[c]
    if " " in c or c != c.lower():
        return c
    words = c.replace("_", " ").split()
    up = {"auc": "AUC", "ci": "CI", "sae": "SAE", "lr": "LR", "ce": "CE", "fve": "FVE", "f1": "F1", "id": "id",
          "ood": "OOD", "pca": "PCA", "knn": "KNN"}
    return " ".join(up.get(w, w) for w in words)
