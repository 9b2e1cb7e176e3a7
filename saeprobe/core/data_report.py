"""Reports on P1's datasets (as the ``sae-probes`` wheel ships them): a catalogue
(:func:`describe`), byte-identical files (:func:`identical_pairs`) and duplicate / conflicting
prompts (:func:`quality_report`). How those duplicates leak through P1's train/test split is P1's
business: :mod:`saeprobe.p1.leakage`.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from saeprobe.core import data

__all__ = ["describe", "identical_pairs", "quality_report"]



@lru_cache(maxsize=8)
def _describe(kind: str) -> pd.DataFrame:
    reg = data.registry()
    names = data.list_datasets(kind)
    rows = []
    for name in names:
        r = reg.loc[reg["name"] == name].iloc[0]
        if r["kind"] == "continuous":
            prompts, target = data.read_file(r["path"])
            labels, classes = None, []
        else:
            prompts, labels, classes = data.file_rows(name)
        lengths = [len(p) for p in prompts if p is not None]
        rows.append(
            dict(
                name=name,
                number=int(r["number"]),
                tag=r["tag"],
                kind=r["kind"],
                family=r["family"],
                category=r["category"],
                source=r["source"],
                n_rows=len(prompts),
                n_classes=len(classes) if labels is not None else np.nan,
                pos_frac=float(np.mean(labels == 1)) if labels is not None and len(classes) == 2 else np.nan,
                median_chars=float(np.median(lengths)) if lengths else np.nan,
                classes="|".join(classes),
                has_ood=bool(r["has_ood"]),
            )
        )
    return pd.DataFrame(rows)


def describe(kind: str = "binary") -> pd.DataFrame:
    """One row per dataset: name, number, tag, kind, family, category, source, n_rows, n_classes,
    pos_frac (share of class 1; binary only), median_chars, classes (``"a|b"``), has_ood."""
    return _describe(kind).copy()


@lru_cache(maxsize=1)
def _file_hashes() -> dict[str, str]:
    """sha256 of the decompressed bytes of every dataset file in the master table."""
    import zstandard

    out = {}
    reg = data.registry()
    for name, path in zip(reg["name"], reg["path"]):
        with open(path, "rb") as fh:
            raw = zstandard.ZstdDecompressor().stream_reader(fh).read()
        out[name] = hashlib.sha256(raw).hexdigest()
    return out


def identical_pairs(kind: str = "all") -> list[tuple[str, str]]:
    """Pairs of datasets (of ``kind``) whose files are byte-identical after decompression.

    In sae-probes 0.4.2: 15/16 (continuous), 37/38 (multiclass), 111/112 (continuous); none among
    the 113 binary sets.
    """
    names = set(data.list_datasets(kind))
    groups: dict[str, list[str]] = {}
    for name, h in _file_hashes().items():
        if name in names:
            groups.setdefault(h, []).append(name)
    pairs = []
    for members in groups.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                pairs.append((members[i], members[j]))
    return sorted(pairs, key=lambda p: (int(p[0].split("_")[0]), int(p[1].split("_")[0])))


def quality_report(names: str | Sequence[str] | None = None, *, seed: int = 42,
                   max_rows: int | None = None) -> pd.DataFrame:
    """Data-quality table, one row per dataset (default: all 113 binary sets).

    Columns: name, n_rows, n_unique (distinct prompts), n_duplicate_rows (rows repeating an earlier
    prompt), dup_frac, n_conflicting_prompts (distinct prompts seen with >1 label), n_conflicting_rows,
    identical_to (byte-identical datasets, ``"|"``-joined). With ``max_rows`` every count refers to
    the subsample ``data.load_dataset(name, max_rows=max_rows, seed=seed)`` (what a profile with that cap
    uses), and identical_to still compares whole files. How much of this leaks through P1's split is
    :func:`saeprobe.p1.leakage.split_leakage`.
    """
    if names is None:
        names = data.list_datasets("binary")
    elif isinstance(names, str):
        names = [names]
    names = [data.resolve_name(n) for n in names]
    hashes = _file_hashes()
    rows = []
    for name in names:
        if max_rows is None:
            prompts, labels, _ = data.file_rows(name)
        else:
            ds = data.load_dataset(name, max_rows=max_rows, seed=seed)
            prompts, labels = ds.texts, ds.labels
        df = pd.DataFrame({"t": list(prompts), "y": labels})
        n_lab = df.groupby("t", sort=False)["y"].nunique()
        conflicting = set(n_lab.index[n_lab > 1])
        rec = dict(
            name=name,
            n_rows=len(df),
            n_unique=int(df["t"].nunique()),
            n_duplicate_rows=int(df.duplicated("t").sum()),
            n_conflicting_prompts=len(conflicting),
            n_conflicting_rows=int(df["t"].isin(conflicting).sum()),
            identical_to="|".join(o for o, h in hashes.items() if h == hashes[name] and o != name),
        )
        rec["dup_frac"] = rec["n_duplicate_rows"] / max(rec["n_rows"], 1)
        rows.append(rec)
    cols = ["name", "n_rows", "n_unique", "n_duplicate_rows", "dup_frac", "n_conflicting_prompts",
            "n_conflicting_rows", "identical_to"]
    return pd.DataFrame(rows)[cols]
