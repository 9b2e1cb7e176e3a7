"""TextProbe's test scores and its bootstrap CI of the test AUC (no model: a hand-made split)."""
import numpy as np
from sklearn.metrics import roc_auc_score

from saeprobe.p1.splits import Split
from saeprobe.p1.texts import TextProbe


def _probe(y, score):
    y = np.asarray(y)
    split = Split("standard", None, np.arange(0), np.arange(len(y)), np.zeros(0, int), y)
    return TextProbe(None, float(roc_auc_score(y, score)), float("nan"), split, [], np.asarray(score, float))


def test_auc_ci_brackets_the_auc_and_is_seeded():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    score = y + rng.normal(0, 1.0, len(y))
    p = _probe(y, score)
    lo, hi = p.auc_ci(n_boot=500, seed=1)
    assert lo < p.test_auc < hi and 0 <= lo and hi <= 1
    assert (lo, hi) == p.auc_ci(n_boot=500, seed=1)
    assert (lo, hi) != p.auc_ci(n_boot=500, seed=2)


def test_auc_ci_perfect_separation_and_missing_scores():
    y = np.repeat([0, 1], 5)
    assert _probe(y, y.astype(float)).auc_ci(n_boot=200) == (1.0, 1.0)
    p = _probe(y, y.astype(float))
    p.test_score = None
    assert all(np.isnan(p.auc_ci()))
    assert all(np.isnan(_probe([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4]).auc_ci()))  # one row of class 0
