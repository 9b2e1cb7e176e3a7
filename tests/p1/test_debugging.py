"""P1's dataset debugging on CoLA (saeprobe.p1.debugging): the vendored labels, matching, scores."""
import numpy as np
import pandas as pd
import pytest

from saeprobe.core import data
from saeprobe.p1 import debugging as D


def test_vendored_labels_match_every_cola_row():
    rel = D.load_cola_labels()
    assert len(rel) == 1000 and int(rel.disputed.sum()) == D.P1_COLA["n_disputed"]  # P1: 220 disputed
    cola = data.load_dataset("87_glue_cola")
    s = D.cola_split(cola.texts, cola.labels, rel)
    assert s["n_matched"] == 1000 and s["n_missing"] == 0
    eval_texts = set(rel.prompt)
    assert not any(cola.texts[i] in eval_texts for i in s["train"])  # no duplicate of a test sentence leaks
    assert s["n_train"] + s["n_matched"] + s["n_dropped_duplicates"] == len(cola)
    assert (cola.labels[s["eval"]] == rel.original_target.to_numpy()).all()
    small = D.cola_split(cola.texts, cola.labels, rel, max_train=50)
    assert small["n_train"] == 50 and set(small["train"]) <= set(s["train"])


def test_cola_split_rejects_a_different_label():
    rel = pd.DataFrame({"prompt": ["a", "b"], "original_target": [1, 0], "ensemble": [1, 1]})
    rel["disputed"] = rel.original_target != rel.ensemble
    with pytest.raises(ValueError, match="another original label"):
        D.cola_split(["a", "b", "c"], np.array([0, 0, 1]), rel)


def test_scores_and_precision_at_k():
    rel = pd.DataFrame({"original_target": [1, 1, 0, 0], "ensemble": [1, 0, 0, 1]})
    rel["disputed"] = rel.original_target != rel.ensemble
    proba = np.array([0.9, 0.2, 0.1, 0.7])  # agrees with the judges everywhere
    s = D.label_scores(proba, rel)
    assert s["acc_ensemble"] == 1.0 and s["acc_original"] == 0.5 and s["acc_disputed_vs_ensemble"] == 1.0
    assert s["auc_disputed_vs_ensemble"] == 1.0
    pk = D.precision_at_k(proba, rel.original_target.to_numpy(), rel.disputed.to_numpy(), ks=(1, 2, 4))
    assert pk.precision.tolist() == [1.0, 1.0, 0.5] and pk.base_rate.iloc[0] == 0.5
    d, lo, hi = D.paired_accuracy_diff(np.array([1, 0, 0, 1]), np.array([1, 1, 0, 0]), rel.ensemble.to_numpy(), n_boot=200)
    assert d == 0.5 and lo <= d <= hi
