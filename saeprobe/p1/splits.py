"""P1's train/test split generators (Kantamneni et al. 2025), seed 42, index-for-index.

Each generator reproduces the index selection of ``sae_probes.utils_data`` (sae-probes 0.4.2) and the
way its runners call it (``run_baselines.py``, ``generate_sae_activations.py``), so for the same label
vector (rows in file order, see :func:`saeprobe.core.data.load_dataset`) our ``train_idx``/``test_idx``
equal the package's. The test suite checks this against the package's own functions, extracted from
the installed wheel's source (importing ``sae_probes`` would pull in TransformerLens).

Regimes (P1 §4, PROTOCOLS.md):

* **standard** ``num_train = min(N-100, 1024)``, balanced; test = ``N - num_train - 1`` remaining rows.
* **scarcity** ``num_train`` in the 20 sizes of :func:`scarcity_sizes`, skipped when ``> N-100``.
* **imbalance** positive fraction in :func:`imbalance_fracs` for train AND test; sizes from
  :func:`imbalance_sizes` (``max_total`` rule).
* **label_noise** the standard split, then ``int(num_train * frac)`` training labels flipped.
* **ood** 1024 balanced training rows drawn from the first 1500 rows (P1's ``MAX_AMT=1500``), test =
  the whole OOD file.

``dedup=True`` keeps the same training rows and drops every test row whose prompt also occurs among the
training prompts (P1's split leaks: see :func:`saeprobe.p1.leakage.quality_report`).

Indices index the label vector you pass (for OOD: ``test_idx`` indexes the OOD file). Shapes:
``train_idx`` int64 ``[num_train]``, ``test_idx`` int64 ``[num_test]``, ``y_train``/``y_test`` int64 alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = [
    "Split",
    "p1_train_test_indices",
    "corrupt_labels",
    "scarcity_sizes",
    "imbalance_fracs",
    "noise_fracs",
    "imbalance_sizes",
    "standard_split",
    "scarcity_split",
    "scarcity_splits",
    "imbalance_split",
    "imbalance_splits",
    "label_noise_split",
    "label_noise_splits",
    "ood_split",
    "make_splits",
    "REGIMES",
]

REGIMES = ("standard", "scarcity", "imbalance", "label_noise", "ood")
MIN_TEST = 100  # P1 keeps at least 100 test rows
MAX_TRAIN = 1024
OOD_MAX_AMT = 1500  # get_OOD_traintest reads only the first 1500 in-distribution rows
MAX_AMT = 5000  # get_xy_traintest_specify's default row cap


@dataclass(frozen=True)
class Split:
    """One train/test split.

    Attributes:
        regime: one of :data:`REGIMES`.
        param: the regime's parameter (standard: None; scarcity: num_train; imbalance: positive
            fraction; label_noise: flipped fraction; ood: None).
        train_idx: int64 ``[num_train]`` row indices, in P1's (shuffled) order.
        test_idx: int64 ``[num_test]`` row indices (OOD: rows of the OOD file).
        y_train: int64 ``[num_train]`` training labels, possibly noised (label_noise).
        y_test: int64 ``[num_test]`` clean test labels.
        dedup: whether test rows whose prompt occurs in train were removed.
        meta: small dict (seed, n_flipped, n_test_removed, ...).
    """

    regime: str
    param: float | int | None
    train_idx: np.ndarray
    test_idx: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    dedup: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def num_train(self) -> int:
        return len(self.train_idx)

    @property
    def num_test(self) -> int:
        return len(self.test_idx)

    def __repr__(self) -> str:
        return (f"Split({self.regime}, param={self.param}, train={self.num_train}, test={self.num_test}, "
                f"dedup={self.dedup})")


# --------------------------------------------------------------------------- P1's primitives, verbatim


def p1_train_test_indices(y, num_train: int, num_test: int, pos_ratio: float = 0.5, seed: int = 42):
    """``sae_probes.utils_data.get_train_test_indices``, line for line (same RNG calls, same order).

    Returns (train_indices, test_indices), each shuffled; positives are ``y == 1``, negatives ``y == 0``.
    """
    rng = np.random.RandomState(seed)
    pos_indices = np.where(y == 1)[0]
    neg_indices = np.where(y == 0)[0]
    pos_train_size = int(np.ceil(pos_ratio * num_train))
    neg_train_size = num_train - pos_train_size
    pos_test_size = int(np.ceil(pos_ratio * num_test))
    neg_test_size = num_test - pos_test_size
    train_pos = rng.choice(pos_indices, size=pos_train_size, replace=False)
    train_neg = rng.choice(neg_indices, size=neg_train_size, replace=False)
    remaining_pos = np.setdiff1d(pos_indices, train_pos)
    remaining_neg = np.setdiff1d(neg_indices, train_neg)
    test_pos = rng.choice(remaining_pos, size=pos_test_size, replace=False)
    test_neg = rng.choice(remaining_neg, size=neg_test_size, replace=False)
    train_indices = rng.permutation(np.concatenate([train_pos, train_neg]))
    test_indices = rng.permutation(np.concatenate([test_pos, test_neg]))
    return train_indices, test_indices


def corrupt_labels(y_train, frac: float, seed: int = 42) -> np.ndarray:
    """``sae_probes.utils_data.corrupt_ytrain``: flip exactly ``int(len(y) * frac)`` labels (0 <-> 1)."""
    if not 0 <= frac <= 0.5:
        raise ValueError(f"label-noise fraction must lie in [0, 0.5], got {frac}")
    rng = np.random.RandomState(seed)
    num_to_flip = int(len(y_train) * frac)
    flip_indices = rng.choice(len(y_train), size=num_to_flip, replace=False)
    out = np.array(y_train, copy=True)
    out[flip_indices] = 1 - out[flip_indices]
    return out


def scarcity_sizes() -> list[int]:
    """The 20 training sizes: ``unique(round(logspace(1, 10, 20, base=2)))`` = 2, 3, 4, 5, 7, ..., 1024."""
    return np.unique(np.round(np.logspace(1, 10, num=20, base=2)).astype(int)).tolist()


def imbalance_fracs() -> list[float]:
    """The 19 positive fractions ``linspace(0.05, 0.95, 19)`` (raw floats, as P1 lists them)."""
    return np.linspace(0.05, 0.95, num=19).tolist()


def noise_fracs() -> list[float]:
    """The 11 label-noise fractions ``linspace(0, 0.5, 11)``."""
    return np.linspace(0, 0.5, num=11).tolist()


def _round20(frac: float) -> float:
    """P1's baseline runners round fractions to the 0.05 grid: ``round(frac * 20) / 20``."""
    return round(frac * 20) / 20


def imbalance_sizes(y, min_num_test: int = MIN_TEST) -> tuple[int, int]:
    """``get_classimabalance_num_train``: (num_train, num_test) shared by all 19 fractions.

    ``max_total = int(min(n_neg / 0.95, n_pos / 0.95))``, ``num_train = min(max_total - 100, 1024)``,
    ``num_test = max(100, max_total - num_train - 1)``.
    """
    y = _labels(y)
    points = imbalance_fracs()
    min_p, max_p = min(points), max(points)
    num_pos = int(np.sum(y))
    num_neg = len(y) - num_pos
    max_total = int(min(num_neg / (1 - min_p), num_pos / max_p))
    num_train = min(max_total - min_num_test, MAX_TRAIN)
    num_test = max(min_num_test, max_total - num_train - 1)
    return num_train, num_test


# --------------------------------------------------------------------------- helpers


def _labels(y) -> np.ndarray:
    """int64 label vector from an array or a :class:`saeprobe.core.data.Dataset`."""
    if hasattr(y, "labels"):
        y = y.labels
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {y.shape}")
    return y.astype(np.int64)


def _texts(y, texts):
    if texts is None and hasattr(y, "texts"):
        texts = y.texts
    return texts


def _check_binary(y: np.ndarray, what: str) -> None:
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{what} needs binary labels in {{0, 1}}, got classes {sorted(values)}")
    if len(values) < 2:
        raise ValueError(f"{what} needs both classes, got only class {sorted(values)}")


def _specify(y, num_train, num_test, pos_ratio, seed, max_amt=MAX_AMT, min_test=MIN_TEST):
    """``get_xy_traintest_specify`` on index space: cap at ``max_amt`` rows, size checks, indices."""
    y = y[:max_amt]
    n = len(y)
    if num_test is None:
        num_test = n - num_train - 1
    if num_train + min(min_test, num_test) > n:
        raise ValueError(
            f"requested train={num_train} + test={min(min_test, num_test)} rows but the dataset has only {n}; "
            f"use fewer training rows (P1 needs num_train <= N-100)"
        )
    try:
        tr, te = p1_train_test_indices(y, num_train, num_test, pos_ratio, seed)
    except ValueError as err:  # numpy: "Cannot take a larger sample than population ..."
        raise ValueError(
            f"not enough rows of one class for num_train={num_train}, num_test={num_test}, "
            f"pos_ratio={pos_ratio} (n_pos={int((y == 1).sum())}, n_neg={int((y == 0).sum())}): {err}"
        ) from None
    return tr.astype(np.int64), te.astype(np.int64)


def _finish(regime, param, y, tr, te, *, texts, dedup, y_train=None, y_test=None, meta=None) -> Split:
    meta = dict(meta or {})
    if dedup:
        if texts is None:
            raise ValueError("dedup=True needs the prompts: pass a Dataset or texts=")
        train_set = {texts[i] for i in tr}
        keep = np.array([texts[i] not in train_set for i in te], dtype=bool)
        meta["n_test_removed"] = int((~keep).sum())
        te = te[keep]
        if y_test is not None:
            y_test = y_test[keep]
    y_train = y[tr] if y_train is None else y_train
    y_test = y[te] if y_test is None else y_test
    return Split(regime=regime, param=param, train_idx=tr, test_idx=te,
                 y_train=np.asarray(y_train, dtype=np.int64), y_test=np.asarray(y_test, dtype=np.int64),
                 dedup=dedup, meta=meta)


# --------------------------------------------------------------------------- generators


def standard_split(y, *, seed: int = 42, dedup: bool = False, texts: Sequence[str] | None = None,
                   min_test: int = MIN_TEST) -> Split:
    """P1's standard split: ``num_train = min(N-100, 1024)`` balanced, test = the other ``N-num_train-1``.

    Args:
        y: binary labels ``[N]`` (or a :class:`~saeprobe.core.data.Dataset`).
        dedup: drop test rows whose prompt occurs in train (needs ``texts`` or a Dataset).
        min_test: P1 reserves 100 test rows; smaller values (not P1) let tiny smoke-test subsets split.
    """
    lab = _labels(y)
    _check_binary(lab, "standard_split")
    num_train = min(len(lab) - min_test, MAX_TRAIN)
    if num_train < 1:
        raise ValueError(f"standard_split: {len(lab)} rows leave no training rows after {min_test} test rows "
                         f"(P1 needs N > 100; pass min_test= for tiny data)")
    return scarcity_split(y, num_train, seed=seed, dedup=dedup, texts=texts, min_test=min_test,
                          _regime="standard")


def scarcity_split(y, num_train: int, *, seed: int = 42, dedup: bool = False,
                   texts: Sequence[str] | None = None, min_test: int = MIN_TEST,
                   _regime: str = "scarcity") -> Split:
    """``get_xy_traintest(num_train)``: ``num_train`` balanced rows (ceil half positive), test = the
    other ``N - num_train - 1`` rows balanced likewise. ValueError if ``num_train > N - 100``."""
    lab = _labels(y)
    _check_binary(lab, f"{_regime}_split")
    if num_train < 1:
        raise ValueError(f"num_train must be >= 1, got {num_train}")
    if num_train > len(lab) - min_test:
        raise ValueError(f"num_train={num_train} > N-{min_test}={len(lab) - min_test}: P1 skips this size")
    tr, te = _specify(lab, num_train, None, 0.5, seed, min_test=min_test)
    param = None if _regime == "standard" else int(num_train)
    return _finish(_regime, param, lab, tr, te, texts=_texts(y, texts), dedup=dedup,
                   meta=dict(seed=seed, num_train=num_train))


def scarcity_splits(y, sizes: Sequence[int] | None = None, **kw) -> list[Split]:
    """Scarcity splits for every size in ``sizes`` (default :func:`scarcity_sizes`) that is ``<= N-100``."""
    n = len(_labels(y))
    sizes = scarcity_sizes() if sizes is None else list(sizes)
    min_test = kw.get("min_test", MIN_TEST)
    return [scarcity_split(y, s, **kw) for s in sizes if s <= n - min_test]


def imbalance_split(y, frac: float, *, seed: int = 42, dedup: bool = False, texts: Sequence[str] | None = None,
                    round_frac: bool = True, min_test: int = MIN_TEST) -> Split:
    """Class-imbalance split: positive fraction ``frac`` in train and test, sizes from :func:`imbalance_sizes`.

    ``round_frac=True`` rounds ``frac`` to the 0.05 grid first, as P1's baseline runner does
    (``run_baseline_class_imbalance``); its SAE runner passes the raw float (``round_frac=False``),
    which differs only when ``frac * num`` lands on an integer (e.g. 0.25000000000000006 * 1024).
    ``min_test``: P1 keeps 100 test rows; smaller values (not P1) let tiny smoke-test subsets split.
    """
    lab = _labels(y)
    _check_binary(lab, "imbalance_split")
    if not 0 < frac < 1:
        raise ValueError(f"positive fraction must lie in (0, 1), got {frac}")
    ratio = _round20(frac) if round_frac else frac
    num_train, num_test = imbalance_sizes(lab, min_num_test=min_test)
    if num_train < 2:
        raise ValueError(
            f"too few rows for the imbalance regime: {len(lab)} rows leave num_train={num_train} after "
            f"{min_test} test rows (needs about {2 * min_test} balanced rows; pass min_test= for tiny data)"
        )
    tr, te = _specify(lab, num_train, num_test, ratio, seed, min_test=min_test)
    return _finish("imbalance", float(_round20(frac)), lab, tr, te, texts=_texts(y, texts), dedup=dedup,
                   meta=dict(seed=seed, num_train=num_train, num_test=num_test, pos_ratio=ratio))


def imbalance_splits(y, fracs: Sequence[float] | None = None, **kw) -> list[Split]:
    """One :func:`imbalance_split` per fraction (default: the 19 of :func:`imbalance_fracs`)."""
    fracs = imbalance_fracs() if fracs is None else list(fracs)
    return [imbalance_split(y, f, **kw) for f in fracs]


def label_noise_split(y, frac: float, *, seed: int = 42, dedup: bool = False,
                      texts: Sequence[str] | None = None, min_test: int = MIN_TEST) -> Split:
    """The standard split with ``int(num_train * frac)`` training labels flipped (``frac`` rounded to the
    0.05 grid as ``run_baseline_corrupt`` does); the test labels stay clean."""
    if not 0 <= frac <= 0.5:
        raise ValueError(f"label-noise fraction must lie in [0, 0.5], got {frac}")
    frac = _round20(frac)
    base = standard_split(y, seed=seed, dedup=dedup, texts=texts, min_test=min_test)
    noisy = corrupt_labels(base.y_train, frac, seed=seed)
    meta = dict(base.meta, n_flipped=int((noisy != base.y_train).sum()), frac=frac)
    return Split("label_noise", float(frac), base.train_idx, base.test_idx, noisy, base.y_test,
                 dedup=dedup, meta=meta)


def label_noise_splits(y, fracs: Sequence[float] | None = None, **kw) -> list[Split]:
    """One :func:`label_noise_split` per fraction (default: the 11 of :func:`noise_fracs`)."""
    fracs = noise_fracs() if fracs is None else list(fracs)
    return [label_noise_split(y, f, **kw) for f in fracs]


def ood_split(y, y_ood, *, seed: int = 42, dedup: bool = False, texts: Sequence[str] | None = None,
              ood_texts: Sequence[str] | None = None, num_train: int | None = None) -> Split:
    """P1's OOD regime (``get_OOD_traintest``): ``num_train`` balanced rows from the first 1500
    in-distribution rows; test = every row of the OOD file, in file order.

    ``num_train=None`` means P1's 1024 when the first 1500 rows hold 512 of each class (all 8 full OOD
    parents do), else (subsampled profiles) the largest balanced count they allow, ``2 * min(n_pos, n_neg)``
    (recorded in ``meta["num_train"]``; not P1).

    Args:
        y: in-distribution labels (or Dataset); ``y_ood``: OOD labels (or the Dataset of
            :func:`saeprobe.core.data.load_ood`), same encoding.
        dedup: drop OOD rows whose prompt occurs in the training rows (needs both texts).
    """
    lab = _labels(y)
    _check_binary(lab, "ood_split")
    lab_ood = _labels(y_ood)
    if num_train is None:
        head = lab[:OOD_MAX_AMT]
        num_train = min(MAX_TRAIN, 2 * int(min((head == 1).sum(), (head == 0).sum())))
    tr, _ = _specify(lab, num_train, 0, 0.5, seed, max_amt=OOD_MAX_AMT)
    te = np.arange(len(lab_ood), dtype=np.int64)
    meta = dict(seed=seed, num_train=num_train)
    split = _finish("ood", None, lab, tr, te, texts=None, dedup=False, y_test=lab_ood, meta=meta)
    if dedup:
        texts = _texts(y, texts)
        ood_texts = _texts(y_ood, ood_texts)
        if texts is None or ood_texts is None:
            raise ValueError("dedup=True needs the prompts: pass Datasets or texts=/ood_texts=")
        train_set = {texts[i] for i in tr}
        keep = np.array([ood_texts[i] not in train_set for i in te], dtype=bool)
        meta["n_test_removed"] = int((~keep).sum())
        split = Split("ood", None, tr, te[keep], split.y_train, lab_ood[te[keep]], dedup=True, meta=meta)
    return split


def make_splits(regime: str, y, *, y_ood=None, seed: int = 42, dedup: bool = False,
                texts: Sequence[str] | None = None, ood_texts: Sequence[str] | None = None,
                min_test: int = MIN_TEST) -> list[Split]:
    """Every split of one regime, in P1's parameter order.

    ``standard``/``ood``: one split; ``scarcity``: one per size <= N-100; ``imbalance``: 19;
    ``label_noise``: 11. ``ood`` needs ``y_ood`` (labels or the Dataset of ``load_ood``).
    ``min_test`` (P1: 100) applies to standard, scarcity and label_noise.
    """
    kw = dict(seed=seed, dedup=dedup, texts=texts)
    if regime == "standard":
        return [standard_split(y, min_test=min_test, **kw)]
    if regime == "scarcity":
        return scarcity_splits(y, min_test=min_test, **kw)
    if regime == "imbalance":
        return imbalance_splits(y, **kw)
    if regime == "label_noise":
        return label_noise_splits(y, min_test=min_test, **kw)
    if regime == "ood":
        if y_ood is None:
            raise ValueError("regime 'ood' needs y_ood= (the labels or Dataset of saeprobe.core.data.load_ood)")
        return [ood_split(y, y_ood, ood_texts=ood_texts, **kw)]
    raise ValueError(f"unknown regime {regime!r}; use one of {', '.join(REGIMES)}")
