"""saeprobe.regimes: P1's split rules on synthetic labels, and index-for-index agreement with the
sae-probes 0.4.2 functions themselves (their source is extracted from the installed wheel with ``ast``
and executed with stand-ins for the activation loaders, because importing ``sae_probes`` pulls in
TransformerLens and reads every CSV)."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import LeavePOut, StratifiedKFold

from saeprobe.core import data
from saeprobe.p1 import leakage
from saeprobe.p1 import splits as regimes
from saeprobe.p1.validation import P1InnerCV

PKG = Path(importlib.util.find_spec("sae_probes").origin).parent


def _balanced(n: int, seed: int = 0) -> np.ndarray:
    y = np.repeat([0, 1], n // 2)
    return np.random.RandomState(seed).permutation(y)


# ------------------------------------------------------------------ the package's own functions


@pytest.fixture(scope="module")
def pkg():
    """The package's split functions, compiled from its source, with loaders stubbed to index space."""
    ns: dict = {"np": np, "Path": Path, "LeavePOut": LeavePOut, "StratifiedKFold": StratifiedKFold}
    wanted = {
        "utils_data.py": {"get_train_test_indices", "get_xy_traintest_specify", "get_xy_traintest",
                          "get_classimabalance_num_train", "get_class_imbalance", "get_training_sizes",
                          "corrupt_ytrain", "get_corrupt_frac", "get_OOD_traintest"},
        "utils_training.py": {"get_cv", "get_splits"},
    }
    for fname, names in wanted.items():
        tree = ast.parse((PKG / fname).read_text())
        fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
        assert {f.name for f in fns} == names, f"sae-probes {fname} changed"
        for f in fns:
            f.decorator_list = []
        exec(compile(ast.Module(body=fns, type_ignores=[]), str(PKG / fname), "exec"), ns)

    def bind(y, y_ood=None):
        # X := row numbers, so the package returns the indices it selected
        ns["get_yvals"] = lambda tag: y
        ns["get_xyvals"] = lambda tag, hook, model, MAX_AMT=1500, model_cache_path=None: (
            np.arange(len(y))[:MAX_AMT], y[:MAX_AMT])
        ns["get_xy_OOD"] = lambda dataset, model_name, hook_name, model_cache_path: (np.arange(len(y_ood)), y_ood)
        return ns

    return bind


REAL = ["87_glue_cola", "95_toxic_is", "130_temp_cat_Frequency", "117_us_state_FL"]


@pytest.mark.parametrize("name", REAL)
def test_equal_to_package_on_real_data(pkg, name):
    y = data.load_dataset(name).labels
    ns = pkg(y)
    n = len(y)
    a, ya, b, yb = ns["get_xy_traintest"](min(n - 100, 1024), name, "h", "m", "p")
    s = regimes.standard_split(y)
    np.testing.assert_array_equal(a, s.train_idx)
    np.testing.assert_array_equal(b, s.test_idx)
    np.testing.assert_array_equal(ya, s.y_train)
    np.testing.assert_array_equal(yb, s.y_test)
    assert ns["get_training_sizes"]() == regimes.scarcity_sizes()
    splits = regimes.scarcity_splits(y)
    expect = [k for k in ns["get_training_sizes"]() if k <= n - 100]
    assert [sp.param for sp in splits] == expect
    for sp in splits:
        a, _, b, _ = ns["get_xy_traintest"](sp.param, name, "h", "m", "p")
        np.testing.assert_array_equal(a, sp.train_idx)
        np.testing.assert_array_equal(b, sp.test_idx)
    assert ns["get_class_imbalance"]() == regimes.imbalance_fracs()
    assert ns["get_classimabalance_num_train"](name) == regimes.imbalance_sizes(y)
    num_train, num_test = regimes.imbalance_sizes(y)
    for f in regimes.imbalance_fracs():
        for round_frac in (True, False):  # baseline runner rounds, SAE runner does not
            ratio = round(f * 20) / 20 if round_frac else f
            a, _, b, _ = ns["get_xy_traintest_specify"](num_train, name, "h", "m", pos_ratio=ratio,
                                                        num_test=num_test, model_cache_path="p")
            sp = regimes.imbalance_split(y, f, round_frac=round_frac)
            np.testing.assert_array_equal(a, sp.train_idx)
            np.testing.assert_array_equal(b, sp.test_idx)
    assert ns["get_corrupt_frac"]() == regimes.noise_fracs()
    for f in regimes.noise_fracs():
        sp = regimes.label_noise_split(y, f)
        np.testing.assert_array_equal(ns["corrupt_ytrain"](s.y_train, round(f * 20) / 20, seed=42), sp.y_train)


@pytest.mark.parametrize("name", ["87_glue_cola", "66_living-room"])
def test_ood_equal_to_package(pkg, name):
    ds, ood = data.load_dataset(name), data.load_ood(name)
    ns = pkg(ds.labels, ood.labels)
    a, ya, b, yb = ns["get_OOD_traintest"](name, "m", "h", "p")
    sp = regimes.ood_split(ds, ood)
    np.testing.assert_array_equal(a, sp.train_idx)
    np.testing.assert_array_equal(b, sp.test_idx)
    np.testing.assert_array_equal(ya, sp.y_train)
    np.testing.assert_array_equal(yb, sp.y_test)
    assert sp.train_idx.max() < 1500 and sp.num_train == 1024 and sp.num_test == len(ood)


@pytest.mark.parametrize("n", [4, 10, 12, 13, 50, 127, 128, 400, 1024])
def test_inner_cv_equal_to_package(pkg, n):
    ns = pkg(None)
    y = _balanced(n - n % 2, seed=n)
    if n % 2:
        y = np.append(y, 1)
    ours = list(P1InnerCV(seed=42).split(np.zeros((n, 2)), y))
    theirs = ns["get_splits"](ns["get_cv"](np.zeros((n, 2)), seed=42), np.zeros((n, 2)), y)
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


# ------------------------------------------------------------------ the rules on synthetic labels


def test_standard_sizes_5000():
    y = _balanced(5000)
    s = regimes.standard_split(y)
    assert (s.num_train, s.num_test) == (1024, 3975)
    assert s.regime == "standard" and s.param is None
    assert np.bincount(s.y_train).tolist() == [512, 512] and np.bincount(s.y_test).tolist() == [1987, 1988]
    assert not set(s.train_idx) & set(s.test_idx) and len(set(s.test_idx)) == 3975
    np.testing.assert_array_equal(s.y_train, y[s.train_idx])
    assert s.train_idx.dtype == np.int64
    small = regimes.standard_split(_balanced(728))
    assert (small.num_train, small.num_test) == (628, 99)


def test_scarcity_sizes_and_skips():
    assert regimes.scarcity_sizes() == [2, 3, 4, 5, 7, 10, 14, 20, 28, 38, 53, 74, 103, 143, 198, 275, 382,
                                        531, 737, 1024]
    splits = regimes.scarcity_splits(_balanced(728))
    assert [s.param for s in splits] == regimes.scarcity_sizes()[:18]  # 737 and 1024 > 628 skipped
    assert all(s.num_test == 728 - s.num_train - 1 for s in splits)
    assert np.bincount(splits[1].y_train).tolist() == [1, 2]  # ceil(0.5 * 3) positives
    assert len(regimes.scarcity_splits(_balanced(5000))) == 20
    with pytest.raises(ValueError, match="N-100"):
        regimes.scarcity_split(_balanced(728), 737)


def test_imbalance_sizes():
    y = _balanced(5000)
    assert regimes.imbalance_sizes(y) == (1024, 1606)  # max_total = int(2500 / 0.95) = 2631
    assert regimes.imbalance_sizes(_balanced(1000)) == (426, 100)  # max_total 526
    splits = regimes.imbalance_splits(y)
    assert len(splits) == 19
    for s in splits:
        f = s.param
        assert s.num_train == 1024 and s.num_test == 1606
        assert s.y_train.sum() == int(np.ceil(f * 1024)) and s.y_test.sum() == int(np.ceil(f * 1606))
        assert not set(s.train_idx) & set(s.test_idx)
    assert [s.param for s in splits] == [round(0.05 * k, 2) for k in range(1, 20)]


def test_label_noise_flips_exact_count_train_only():
    y = _balanced(5000)
    base = regimes.standard_split(y)
    splits = regimes.label_noise_splits(y)
    assert len(splits) == 11
    for s in splits:
        flipped = int((s.y_train != y[s.train_idx]).sum())
        assert flipped == int(1024 * s.param) == s.meta["n_flipped"]
        np.testing.assert_array_equal(s.train_idx, base.train_idx)
        np.testing.assert_array_equal(s.y_test, y[s.test_idx])  # test stays clean
    assert [s.meta["n_flipped"] for s in splits] == [0, 51, 102, 153, 204, 256, 307, 358, 409, 460, 512]
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        regimes.label_noise_split(y, 0.6)


def test_dedup_removes_leaked_test_prompts():
    rng = np.random.RandomState(0)
    y = _balanced(2000)
    texts = [f"p{rng.randint(700)}" for _ in range(2000)]  # heavy repetition
    plain = regimes.standard_split(y, texts=texts)
    ded = regimes.standard_split(y, dedup=True, texts=texts)
    np.testing.assert_array_equal(plain.train_idx, ded.train_idx)
    train = {texts[i] for i in ded.train_idx}
    assert not any(texts[i] in train for i in ded.test_idx)
    assert ded.meta["n_test_removed"] == plain.num_test - ded.num_test > 0
    np.testing.assert_array_equal(ded.y_test, y[ded.test_idx])
    assert regimes.imbalance_split(y, 0.2, dedup=True, texts=texts).dedup
    with pytest.raises(ValueError, match="texts"):
        regimes.standard_split(y, dedup=True)


def test_dedup_real_glue_cola():
    ds = data.load_dataset("glue_cola")
    s = regimes.standard_split(ds, dedup=True)
    train = {ds.texts[i] for i in s.train_idx}
    assert s.num_train == 1024 and not any(ds.texts[i] in train for i in s.test_idx)
    q = leakage.quality_report("glue_cola")
    assert s.meta["n_test_removed"] == q["test_in_train"].iloc[0] > 0
    o = regimes.ood_split(ds, data.load_ood("glue_cola"), dedup=True)
    assert o.dedup and o.num_test <= 300


def test_inner_cv_rules():
    cv = P1InnerCV()
    assert cv.get_n_splits(None, _balanced(10)) == 45 - 2 * 10  # LeavePOut(2) minus same-class pairs
    folds = list(cv.split(None, _balanced(50)))
    assert len(folds) == 6 and sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(50))
    (tr, va), = cv.split(None, _balanced(1024))
    assert va.tolist() == list(range(924, 1024)) and tr.tolist() == list(range(924))
    (_, va), = cv.split(None, _balanced(200))
    assert len(va) == 40
    with pytest.raises(ValueError, match="single class"):
        list(cv.split(None, np.ones(20, dtype=int)))
    with pytest.raises(ValueError, match="X has 5 rows but 6 labels"):
        list(cv.split(np.zeros((5, 2)), _balanced(6)))


def test_inner_cv_no_valid_fold_is_a_value():
    y = np.zeros(130, dtype=int)
    y[0] = 1  # the hold-out (last 26 rows) has a single class -> no usable fold
    cv = P1InnerCV()
    assert cv.get_n_splits(None, y) == 0 and list(cv.split(None, y)) == []
    assert cv.get_n_splits(None, np.array([0, 1, 0, 1])) == 4  # LeavePOut(2): the 4 mixed pairs


def test_bad_labels():
    with pytest.raises(ValueError, match="binary"):
        regimes.standard_split(np.arange(300) % 3)
    with pytest.raises(ValueError, match="both classes"):
        regimes.standard_split(np.ones(300, dtype=int))


def test_make_splits_dispatch_and_small_data():
    y = _balanced(1000)
    counts = {r: len(regimes.make_splits(r, y, y_ood=_balanced(300))) for r in regimes.REGIMES}
    assert counts == {"standard": 1, "scarcity": 19, "imbalance": 19, "label_noise": 11, "ood": 1}
    with pytest.raises(ValueError, match="y_ood"):
        regimes.make_splits("ood", y)
    with pytest.raises(ValueError, match="unknown regime"):
        regimes.make_splits("noise", y)
    with pytest.raises(ValueError, match="too few rows"):
        regimes.imbalance_split(_balanced(180), 0.5)


def test_small_subsets_profile_sizes():
    # cpu profile: 600 rows; OOD falls back to all 600 rows (not P1: P1 always has >= 1024)
    y = _balanced(600)
    o = regimes.ood_split(y, _balanced(300))
    assert o.num_train == 600 and o.meta["num_train"] == 600
    assert regimes.standard_split(y).num_train == 500
    # smoke profile: 48 rows cannot follow P1's 100 test rows; min_test opts out explicitly
    tiny = _balanced(48)
    with pytest.raises(ValueError, match="min_test"):
        regimes.standard_split(tiny)
    s = regimes.standard_split(tiny, min_test=16)
    assert (s.num_train, s.num_test) == (32, 15)
    assert [sp.param for sp in regimes.make_splits("scarcity", tiny, min_test=16)] == [2, 3, 4, 5, 7, 10, 14, 20, 28]
