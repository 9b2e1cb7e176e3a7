"""The AI-vs-human artifact test's pieces (saeprobe.p1.artifacts): punctuation stripping, token
classes, which latents a probe relies on, the paired AUC bootstrap and the ablation table."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from saeprobe.p1 import artifacts as AR
from saeprobe.p1.lr import LRProbe
from saeprobe.p1.sae_probe import SAETopKProbe
from saeprobe.p1.splits import standard_split


@pytest.mark.parametrize("text, want", [
    ("Hello world.", "Hello world"),
    ('He said "no."  ', 'He said "no'),
    ("Really?!)", "Really"),
    ("…and then”.", "…and then"),
    ("no punctuation here ", "no punctuation here "),
    ("trailing number 3", "trailing number 3"),
    ("?!", "?!"),  # only punctuation: kept, never emptied
    ("Dr. Who", "Dr. Who"),  # inner punctuation untouched
])
def test_strip_final_punctuation(text, want):
    assert AR.strip_final_punctuation(text) == want


def test_strip_texts_flags_only_punctuation_endings():
    stripped, changed = AR.strip_texts(["a.", "b ", "c!", "?!", "d"])
    assert stripped == ["a", "b ", "c", "?!", "d"]
    assert changed.tolist() == [True, False, True, False, False]
    assert all(not AR.is_punctuation_char(s.rstrip()[-1]) for s, c in zip(stripped, changed) if c)


def test_ending_table_counts_per_class():
    t = AR.ending_table(["a.", "b!", "c", "d", "e.", "f"], [1, 1, 1, 0, 0, 0])
    assert t.set_index("label").ends_in_punctuation.to_dict() == pytest.approx({0: 1 / 3, 1: 2 / 3})
    assert t.n.tolist() == [3, 3]


@pytest.mark.parametrize("tok, want", [(".", True), (" ?", True), ("!).", True), ('."', True), ("”.", True),
                                       ("Q", False), (".com", False), (" ", False), ("⏎", False), ("3.", False)])
def test_is_punctuation_token(tok, want):
    assert AR.is_punctuation_token(tok) is want


def test_punctuation_share():
    assert AR.punctuation_share([".", "a", "!", "b"]) == 0.5
    assert np.isnan(AR.punctuation_share([]))


def test_paired_auc_diff_matches_sklearn_and_brackets_it():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60), np.zeros(60)].astype(int)
    a = y + rng.normal(0, 0.6, 120)   # a strong score
    b = y + rng.normal(0, 2.0, 120)   # a weak one
    d, lo, hi = AR.paired_auc_diff(y, a, b, n_boot=500)
    assert d == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert lo <= d <= hi and lo > 0  # a clearly beats b
    d0, lo0, hi0 = AR.paired_auc_diff(y, a, a, n_boot=200)
    assert d0 == lo0 == hi0 == 0.0
    with pytest.raises(ValueError, match="two classes"):
        AR.paired_auc_diff(np.ones(5), a[:5], b[:5])


def test_drop_verdict_follows_the_ci():
    assert "falls" in AR.drop_verdict(0.1, 0.05, 0.15)
    assert "rises" in AR.drop_verdict(-0.1, -0.15, -0.05)
    assert "no detectable" in AR.drop_verdict(0.01, -0.02, 0.04)
    assert "too few" in AR.drop_verdict(0.0, np.nan, np.nan)


def _planted(n=240, d=12, seed=0):
    """Label carried by feature 0 ("final punctuation") in the original rows only."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int))
    X = rng.normal(size=(n, d))
    X[:, 0] += 3 * y
    Xs = X.copy()
    Xs[:, 0] = rng.normal(size=n)  # "stripped": the cue is gone
    return X, Xs, y


def test_punctuation_ablation_sees_a_planted_cue_vanish():
    X, Xs, y = _planted()
    split = standard_split(y, seed=42, min_test=80)
    out = AR.punctuation_ablation({"lr": (LRProbe(), "resid")}, {("resid", "orig"): X, ("resid", "stripped"): Xs},
                                  split, n_boot=300).iloc[0]
    assert out.auc_original > 0.9 and out.auc_stripped < 0.7 and out.auc_stripped_no_retrain < 0.7
    assert out.drop_lo > 0 and "falls" in out.verdict
    same = AR.punctuation_ablation({"lr": (LRProbe(), "resid")}, {("resid", "orig"): X, ("resid", "stripped"): X},
                                   split, n_boot=300).iloc[0]
    assert same["drop"] == 0 and "no detectable" in same.verdict


def test_probe_latent_weights_orders_by_contribution():
    X, _, y = _planted(d=10)
    Z = sp.csr_matrix(np.maximum(X, 0))
    pr = SAETopKProbe(k=4, ranking="raw").fit(Z, y)
    w = AR.probe_latent_weights(pr, Z)
    assert sorted(w.latent.tolist()) == sorted(pr.latents_.tolist()) and len(w) == 4
    assert w.latent.iloc[0] == 0  # the planted latent carries the probe
    assert (np.diff(w.weight.to_numpy()) <= 0).all()


def test_top_token_punctuation_against_the_base_rate():
    vocab = {0: ".", 1: "a", 2: "b", 3: "!"}
    tok = np.array([0, 1, 2, 3, 1, 2, 1, 2, 0, 1])
    s_p = np.where(np.isin(tok, [0, 3]), 10.0, 0.0) + np.arange(10) * 0.01  # fires on punctuation
    s_w = np.where(np.isin(tok, [0, 3]), 0.0, 10.0)
    tab, base = AR.top_token_punctuation({"p": s_p, "w": s_w}, tok, lambda ids: "".join(vocab[i] for i in ids),
                                         top_n=3, n_boot=100)
    t = tab.set_index("name")
    assert t.loc["p", "punct_share"] == 1.0 and t.loc["w", "punct_share"] == 0.0 and t.loc["p", "n"] == 3
    assert base == {"share": 0.3, "n": 10}
    _, b2 = AR.top_token_punctuation({"p": s_p}, tok, lambda ids: vocab[ids[0]], top_n=3, exclude=tok == 0)
    assert b2["share"] == pytest.approx(1 / 8) and b2["n"] == 8


def test_top_token_punctuation_pool_positive_only_and_verdict():
    vocab = {0: ".", 1: "a"}
    tok = np.array([0, 1, 0, 1])
    tab, _ = AR.top_token_punctuation({"x": np.array([1.0, 0, 0, 0]), "z": np.array([0, 2.0, 0, 1.0])}, tok,
                                      lambda ids: vocab[ids[0]], top_n=3, positive_only=True,
                                      pool={"both": ["x", "z"]}, n_boot=50)
    t = tab.set_index("name")
    assert t.loc["x", "n"] == 1 and t.loc["z", "n"] == 2 and t.loc["both", "n"] == 3
    assert t.loc["both", "punct_share"] == pytest.approx(1 / 3)
    assert "over" in AR.share_verdict(0.5, 0.8, 0.1) and "under" in AR.share_verdict(0.0, 0.05, 0.1)
    assert "not distinguishable" in AR.share_verdict(0.05, 0.3, 0.1)
