"""Dataset debugging with probes (Kantamneni et al. 2025, section "SAEs for dataset debugging"):
do probes disagree with a dataset's labels where the labels are wrong -- and does an SAE help?

GLUE CoLA (grammatical / ungrammatical sentences) has label errors. P1 relabelled 1,000 CoLA
sentences with three LLM judges (vendored: ``saeprobe/p1/data/cola_llm_labels.csv``, MIT licence);
their majority (``ensemble``) disagrees with the original label on 220. :func:`cola_experiment`
trains probes on the *other* CoLA rows, scores the 1,000 and reports accuracy against the original
labels, against the ensemble, and on the disputed subset; :func:`precision_at_k` asks the non-SAE
question: do a probe's most confident disagreements with the original labels find the disputed
sentences?
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from saeprobe.core.stats import bootstrap_ci

__all__ = ["COLA_LABELS", "P1_COLA", "load_cola_labels", "cola_split", "label_scores", "precision_at_k",
           "paired_accuracy_diff"]

COLA_LABELS = Path(__file__).resolve().parent / "data" / "cola_llm_labels.csv"
#: P1's numbers (Gemma-2-9B L20; baseline residual probe, SAE k = 128 and a single latent of the 1m
#: SAE), labelled as the paper's: accuracy against the original labels, against the ensemble, and on
#: the 220 disputed sentences against the ensemble (with AUC).
P1_COLA = {
    "n_disputed": 220,
    "acc_original": {"baseline": 0.815, "sae_k128": 0.769, "single_latent": 0.723},
    "acc_ensemble": {"baseline": 0.797, "sae_k128": 0.797, "single_latent": 0.781},
    "acc_disputed_vs_ensemble": {"baseline": 0.459, "sae_k128": 0.564, "single_latent": 0.632},
    "auc_disputed_vs_ensemble": {"baseline": 0.488, "sae_k128": 0.602, "single_latent": 0.656},
}


def load_cola_labels() -> pd.DataFrame:
    """The vendored relabelling: ``prompt, original_target, <three judges>, ensemble`` (1,000 rows),
    plus ``disputed`` (ensemble != original)."""
    df = pd.read_csv(COLA_LABELS, index_col=0)
    need = {"prompt", "original_target", "ensemble"}
    if not need <= set(df.columns):
        raise ValueError(f"{COLA_LABELS.name}: expected columns {sorted(need)}, found {list(df.columns)}")
    df["original_target"] = df["original_target"].astype(int)
    df["ensemble"] = df["ensemble"].astype(int)
    df["disputed"] = df["original_target"] != df["ensemble"]
    return df


def cola_split(texts: Sequence[str], labels: np.ndarray, relabelled: pd.DataFrame, *,
               max_train: int | None = None, seed: int = 42) -> dict:
    """Row indices into the CoLA dataset (``texts``/``labels`` in file order): ``eval`` (the relabelled
    sentences, in the table's order), ``train`` (every other row whose text is not an evaluation
    sentence: duplicates would leak), and counts. ValueError if a relabelled sentence is missing or
    its original label differs from the dataset's."""
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    missing = [p for p in relabelled["prompt"] if p not in first]
    ev = np.array([first[p] for p in relabelled["prompt"] if p in first], dtype=np.int64)
    bad = int((np.asarray(labels)[ev] != relabelled["original_target"].to_numpy()[: len(ev)]).sum()) if not missing else 0
    if bad:
        raise ValueError(f"{bad} relabelled CoLA sentences carry another original label than the dataset's")
    eval_texts = set(relabelled["prompt"])
    train = np.array([i for i, t in enumerate(texts) if t not in eval_texts], dtype=np.int64)
    n_dropped = int(len(texts) - len(train) - len(ev))
    if max_train is not None and len(train) > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, size=int(max_train), replace=False))
    return {"eval": ev, "train": train, "n_matched": int(len(ev)), "n_missing": len(missing),
            "n_train": int(len(train)), "n_dropped_duplicates": n_dropped}


def label_scores(proba: np.ndarray, relabelled: pd.DataFrame) -> dict:
    """Accuracy of probabilities ``proba`` ([n], P(class 1), table order) against the original labels,
    the ensemble, and -- on the disputed rows -- the ensemble (accuracy and AUC)."""
    pred = (np.asarray(proba) > 0.5).astype(int)
    orig, ens = relabelled["original_target"].to_numpy(), relabelled["ensemble"].to_numpy()
    d = relabelled["disputed"].to_numpy()
    two = len(np.unique(ens[d])) == 2
    return {"acc_original": float((pred == orig).mean()), "acc_ensemble": float((pred == ens).mean()),
            "acc_disputed_vs_ensemble": float((pred[d] == ens[d]).mean()) if d.any() else float("nan"),
            "auc_disputed_vs_ensemble": float(roc_auc_score(ens[d], np.asarray(proba)[d])) if two else float("nan")}


def precision_at_k(proba: np.ndarray, original: np.ndarray, disputed: np.ndarray,
                   ks: Sequence[int] = (10, 25, 50, 100, 220)) -> pd.DataFrame:
    """The non-SAE route to bad labels: rank rows by how strongly the probe contradicts the original
    label (the probability it gives the *other* class) and ask what share of the top ``k`` are
    disputed. Columns ``k, precision, base_rate`` (the share of disputed rows overall)."""
    proba, original, disputed = np.asarray(proba, float), np.asarray(original), np.asarray(disputed, bool)
    contra = np.where(original == 1, 1 - proba, proba)
    order = np.argsort(-contra, kind="stable")
    rows = [{"k": int(k), "precision": float(disputed[order[:k]].mean()), "base_rate": float(disputed.mean())}
            for k in ks if 0 < k <= len(order)]
    return pd.DataFrame(rows)


def paired_accuracy_diff(pred_a: np.ndarray, pred_b: np.ndarray, truth: np.ndarray, *, n_boot: int = 2000,
                         seed: int = 42) -> tuple[float, float, float]:
    """Accuracy(a) - accuracy(b) against ``truth`` on the same rows, with a percentile-bootstrap 95 %
    CI over rows: ``(diff, lo, hi)``."""
    a = (np.asarray(pred_a) == np.asarray(truth)).astype(float)
    b = (np.asarray(pred_b) == np.asarray(truth)).astype(float)
    return tuple(bootstrap_ci(a - b, n_boot=n_boot, seed=seed))
