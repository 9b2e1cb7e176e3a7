"""Train/test leakage of P1's splits (Kantamneni et al. 2025): duplicate prompts across the split.

P1's datasets repeat prompts (``saeprobe.core.data_report.quality_report``); under P1's standard split a
test prompt can then also be a training prompt. :func:`split_leakage` counts it per dataset, and
:func:`quality_report` is the data-quality table with those counts added (notebook ``00``, ``16``).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from saeprobe.core import data, data_report
from saeprobe.p1.splits import MIN_TEST, standard_split

__all__ = ["split_leakage", "quality_report"]


def split_leakage(texts: Sequence[str], labels, *, seed: int = 42) -> dict:
    """Leakage of P1's standard split (seed ``seed``) of one binary dataset.

    Returns ``num_train, num_test, test_in_train`` (test rows whose prompt also occurs among the
    training rows) and ``test_in_train_frac`` (that over num_test); empty for sets of <= 100 rows.
    """
    if len(labels) <= MIN_TEST:
        return {}
    split = standard_split(labels, seed=seed)
    train = {texts[i] for i in split.train_idx}
    leaked = int(sum(texts[i] in train for i in split.test_idx))
    return dict(num_train=len(split.train_idx), num_test=len(split.test_idx), test_in_train=leaked,
                test_in_train_frac=leaked / max(len(split.test_idx), 1))


def quality_report(names: str | Sequence[str] | None = None, *, seed: int = 42,
                   max_rows: int | None = None) -> pd.DataFrame:
    """:func:`saeprobe.core.data_report.quality_report` plus, for binary sets, :func:`split_leakage`
    (columns num_train, num_test, test_in_train, test_in_train_frac)."""
    base = data_report.quality_report(names, seed=seed, max_rows=max_rows)
    rows = []
    for rec in base.to_dict("records"):
        if max_rows is None:
            texts, labels, classes = data.file_rows(rec["name"])
        else:
            ds = data.load_dataset(rec["name"], max_rows=max_rows, seed=seed)
            texts, labels, classes = ds.texts, ds.labels, ds.classes
        if len(classes) == 2:
            rec.update(split_leakage(texts, labels, seed=seed))
        rows.append(rec)
    out = pd.DataFrame(rows)
    cols = list(base.columns) + ["num_train", "num_test", "test_in_train", "test_in_train_frac"]
    return out[[c for c in cols if c in out.columns]]
