"""The P1 datasets (Kantamneni et al. 2025), read straight from the ``sae-probes`` wheel.

The wheel ships 113 binary, 20 multiclass and 22 continuous probing datasets as zstd-compressed CSV
(``sae_probes/data/cleaned_data/<N>_<tag>.csv.zst``, columns ``prompt``, ``target`` and sometimes
``prompt_len``), a master table (``probing_datasets_MASTER.csv.zst``) and the out-of-distribution test
files of 8 binary datasets (``sae_probes/data/OOD data/<N>_<tag>_OOD.csv.zst``). We locate the files with
:func:`importlib.util.find_spec` and never import ``sae_probes`` itself (that import pulls in
TransformerLens and parses every CSV).

Canonical names are the file stems, e.g. ``"87_glue_cola"``; :func:`resolve_name` also accepts the bare
tag (``"glue_cola"``), the number (``"87"``) and the ``.csv``/``.csv.zst`` file name.

Labels are encoded exactly as P1 does: ``sklearn.preprocessing.LabelEncoder`` fitted on the whole
``target`` column, i.e. the sorted class values map to ``0..K-1`` (class 1 of a binary set is the later
value in sort order: ``True``, ``1``, ``"not_bigram"``, ``"incorrect"`` ...). With ``max_rows=None`` and
``dedup=False`` the rows come in file order, so row ``i`` here is row ``i`` of P1's activation files and
the split generators in :mod:`saeprobe.p1.splits` select the same rows as the package does.
"""
from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder

__all__ = [
    "Dataset",
    "data_dir",
    "list_datasets",
    "resolve_name",
    "load_dataset",
    "load_ood",
    "file_rows",
    "registry",
    "read_file",
    "KINDS",
]

KINDS = ("binary", "multiclass", "continuous", "ood", "all")
_TYPE_OF_KIND = {
    "binary": "Binary Classification",
    "multiclass": "Multiclass Classification",
    "continuous": "Continuous Data",
}

# The OOD file of 90_glue_qnli spells its classes "1" and "not_entailment" while the in-distribution file
# uses 0 (entailment) / 1 (not_entailment). P1 fits a fresh LabelEncoder on the OOD file, which maps
# "1" -> 0 and "not_entailment" -> 1; that agrees with the in-distribution meaning of class 1
# (not_entailment), so "1" stands for entailment here. We reproduce P1's mapping explicitly.
_OOD_LABEL_OVERRIDES: dict[str, dict[str, int]] = {
    "90_glue_qnli": {"1": 0, "not_entailment": 1},
}

# Coarse topic of each binary dataset (by P1 number), for grouping in plots. Our own grouping.
_CATEGORY_RANGES: list[tuple[Iterable[int], str]] = [
    ((5, 6, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 154, 155, 156), "people & entities"),
    (range(114, 126), "geography"),
    ((126, 127, 128), "people & entities"),
    ((21, 22, 23, 24, 26), "news headlines"),
    ((36, 41, 42, 44, 47, 54, 129, 130, 131, 132, 133, 134, 135), "reasoning & QA"),
    ((48, 49, 50, 51, 52), "ethics"),
    (range(65, 86), "phrases (bigram)"),
    ((87, 89, 90, 91, 92, 136, 137, 138), "NLU (GLUE)"),
    ((94, 110), "AI-generated text"),
    ((95, 96, 106, 107), "toxicity & spam"),
    ((100, 105), "news quality"),
    ((113, 148, 149, 150, 157), "sentiment & emotion"),
    ((139, 140, 141, 151, 152, 153, 161, 162, 163), "topic"),
    ((142, 143, 144, 145, 146, 147), "medical"),
    ((158, 159, 160), "code"),
]
_CATEGORY = {n: cat for nums, cat in _CATEGORY_RANGES for n in nums}


@dataclass
class Dataset:
    """One labelled text dataset.

    Attributes:
        name: canonical name (``"87_glue_cola"``; OOD test files: ``"87_glue_cola_OOD"``).
        texts: the prompts, ``len(texts) == n``.
        labels: int64 array ``[n]`` with values in ``0..len(classes)-1`` (P1's LabelEncoder order).
        classes: original class values as strings, ``classes[label]``.
        meta: small dict: ``kind``, ``number``, ``tag``, ``path``, ``n_file_rows``, ``n_dropped_empty``,
            ``n_dropped_duplicates``, ``n_dropped_conflicting``, ``max_rows``, ``seed``, ``dedup``,
            ``ood`` and ``row_index`` (int64 ``[n]``: each row's position in the CSV file).
    """

    name: str
    texts: list[str]
    labels: np.ndarray
    classes: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def row_index(self) -> np.ndarray:
        """int64 ``[n]``: position of each row in the source CSV file."""
        return self.meta["row_index"]

    def __repr__(self) -> str:  # keep reprs short in notebooks
        counts = np.bincount(self.labels, minlength=self.n_classes).tolist()
        return f"Dataset({self.name!r}, n={len(self)}, classes={self.classes}, counts={counts})"


# ----------------------------------------------------------------------------------------- locating


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """The ``data`` folder inside the installed ``sae-probes`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("sae_probes")
    if spec is None or spec.origin is None:
        raise ImportError(
            "package 'sae-probes' is not installed; install it with "
            "`pip install sae-probes==0.4.2 --no-deps` (it ships the P1 datasets)"
        )
    path = Path(spec.origin).parent / "data"
    if not (path / "probing_datasets_MASTER.csv.zst").exists():
        raise FileNotFoundError(f"sae-probes data folder incomplete: {path} lacks probing_datasets_MASTER.csv.zst")
    return path


@lru_cache(maxsize=1)
def _registry() -> pd.DataFrame:
    """One row per dataset of the master table: name, number, tag, kind, family, source, path."""
    master = pd.read_csv(data_dir() / "probing_datasets_MASTER.csv.zst", compression="zstd")
    master = master[master["Dataset save name"].notna() & master["Data type"].notna()].copy()
    # "Source" and "Dataset name" are filled only on the first row of each group in the sheet.
    master[["Source", "Dataset name"]] = master[["Source", "Dataset name"]].ffill()
    kind_of_type = {v: k for k, v in _TYPE_OF_KIND.items()}
    rows = []
    for _, r in master.iterrows():
        kind = kind_of_type.get(r["Data type"])
        if kind is None:
            continue
        stem = str(r["Dataset save name"]).split("/")[-1]
        stem = stem[: -len(".csv")] if stem.endswith(".csv") else stem
        number = int(stem.split("_", 1)[0])
        tag = str(r["Dataset Tag"])
        rows.append(
            dict(
                name=stem,
                number=number,
                tag=tag,
                kind=kind,
                family=_family(number, tag, str(r["Dataset name"])),
                category=_CATEGORY.get(number, "other") if kind == "binary" else "other",
                source=str(r["Dataset name"]),
                path=str(data_dir() / (str(r["Dataset save name"]) + ".zst")),
            )
        )
    reg = pd.DataFrame(rows).sort_values("number", kind="stable").reset_index(drop=True)
    ood_dir = data_dir() / "OOD data"
    ood_names = {p.name[: -len("_OOD.csv.zst")] for p in ood_dir.glob("*_OOD.csv.zst")}
    reg["has_ood"] = reg["name"].isin(ood_names)
    return reg


def registry() -> pd.DataFrame:
    """The master table of every dataset file in the wheel (a copy): name, number, tag, kind, family,
    category, source, path, has_ood, ..."""
    return _registry().copy()


def _family(number: int, tag: str, source: str) -> str:
    """Dataset family: the multiclass parent of one-vs-rest sets, else the tag's stem."""
    if number >= 114:  # one-vs-rest splits of multiclass sets + SAEBench sets: strip the class suffix
        for prefix in ("nyc_borough", "us_state", "us_timezone", "world_country", "art_type", "arith_mc",
                       "temp_cat", "context_type", "glue_mnli", "news_class", "cancer_cat",
                       "disease_class", "twt_emotion", "it_tick", "athlete_sport", "code", "agnews",
                       "amazon"):
            if tag.startswith(prefix):
                return prefix
    if 65 <= number <= 85:
        return "phrase"
    for prefix in ("hist_fig", "headline", "wikidata", "glue", "hate"):
        if tag.startswith(prefix):
            return prefix
    return tag


# ----------------------------------------------------------------------------------------- names


def list_datasets(kind: str = "binary") -> list[str]:
    """Canonical names of one kind, in P1's order (by number).

    Args:
        kind: ``"binary"`` (113), ``"multiclass"`` (20), ``"continuous"`` (22), ``"ood"`` (the 8
            binary datasets with an OOD test file) or ``"all"``.
    """
    reg = _registry()
    if kind == "all":
        return reg["name"].tolist()
    if kind == "ood":
        return reg.loc[reg["has_ood"] & (reg["kind"] == "binary"), "name"].tolist()
    if kind not in _TYPE_OF_KIND:
        raise ValueError(f"unknown dataset kind {kind!r}; use one of {', '.join(KINDS)}")
    return reg.loc[reg["kind"] == kind, "name"].tolist()


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    reg = _registry()
    out: dict[str, str] = {}
    for name, tag, number in zip(reg["name"], reg["tag"], reg["number"]):
        for alias in (name, tag, str(number)):
            out.setdefault(alias.lower(), name)
    return out


def resolve_name(name: str) -> str:
    """Canonical name (``"87_glue_cola"``) of a dataset given by canonical name, tag or number.

    Raises:
        ValueError: unknown name (the message lists close matches).
    """
    if isinstance(name, (int, np.integer)):
        name = str(int(name))
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    key = name.strip()
    key = re.sub(r"\.csv(\.zst)?$", "", key.split("/")[-1]).lower()
    aliases = _aliases()
    if key in aliases:
        return aliases[key]
    close = difflib.get_close_matches(key, list(aliases), n=4, cutoff=0.6)
    close = list(dict.fromkeys(aliases[c] for c in close))
    hint = f"; did you mean {', '.join(close)}?" if close else "; see saeprobe.core.data.list_datasets('all')"
    raise ValueError(f"unknown dataset {name!r}{hint}")


def _row(name: str) -> pd.Series:
    canonical = resolve_name(name)
    reg = _registry()
    return reg.loc[reg["name"] == canonical].iloc[0]


# ----------------------------------------------------------------------------------------- loading


@lru_cache(maxsize=256)
def read_file(path: str) -> tuple[tuple, np.ndarray]:
    """Parsed file: (prompts as a tuple, raw target values as an object array). Cached per process."""
    df = pd.read_csv(path, compression="zstd")
    if "prompt" not in df.columns or "target" not in df.columns:
        raise ValueError(f"{Path(path).name}: expected columns 'prompt' and 'target', found {list(df.columns)}")
    prompts = tuple(None if (isinstance(p, float) and np.isnan(p)) else str(p) for p in df["prompt"].tolist())
    return prompts, df["target"].to_numpy()


@lru_cache(maxsize=256)
def _encoded(name: str) -> tuple[tuple, np.ndarray, tuple]:
    """(prompts, labels int64, classes) for a canonical classification dataset, P1's encoding."""
    row = _row(name)
    if row["kind"] == "continuous":
        raise ValueError(f"{name} is a continuous-target dataset; load_dataset handles binary/multiclass only")
    prompts, target = read_file(row["path"])
    le = LabelEncoder()
    labels = le.fit_transform(target).astype(np.int64)
    classes = tuple(str(c) for c in le.classes_)
    labels.setflags(write=False)
    return prompts, labels, classes


def file_rows(name: str) -> tuple[tuple, np.ndarray, tuple]:
    """Every row of a dataset file as P1 reads it: ``(prompts, labels [N] int64, classes)`` in file
    order, empty prompts included (:func:`load_dataset` drops those)."""
    return _encoded(resolve_name(name))


def _balanced_subsample(labels: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Positions (sorted) of a class-proportional subsample of ``max_rows`` rows.

    Each class gets ``floor(max_rows * n_c / n)`` rows, the remainder going to the classes with the
    largest fractional parts (ties: lower class first), so an exactly balanced set stays exactly
    balanced. Rows within a class are drawn by ``RandomState(seed).permutation``.
    """
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    exact = max_rows * counts / n
    take = np.floor(exact).astype(int)
    order = np.lexsort((np.arange(len(classes)), -(exact - take)))
    for j in order[: max_rows - int(take.sum())]:
        take[j] += 1
    rng = np.random.RandomState(seed)
    picked = []
    for c, k in zip(classes, take):
        pos = np.flatnonzero(labels == c)
        picked.append(pos[rng.permutation(len(pos))[:k]])
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _dedup_positions(texts: Sequence[str], labels: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Keep the first occurrence of each prompt; drop every row of a prompt seen with >1 label.

    Returns (kept positions, rows dropped as repeats, rows dropped as conflicting).
    """
    df = pd.DataFrame({"t": list(texts), "y": labels})
    n_labels = df.groupby("t", sort=False)["y"].transform("nunique")
    conflicting = (n_labels > 1).to_numpy()
    repeat = df.duplicated("t", keep="first").to_numpy() & ~conflicting
    keep = ~conflicting & ~repeat
    return np.flatnonzero(keep).astype(np.int64), int(repeat.sum()), int(conflicting.sum())


def _build(
    name: str,
    prompts: Sequence,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    max_rows: int | None,
    seed: int,
    dedup: bool,
    meta: dict,
) -> Dataset:
    if max_rows is not None and (not isinstance(max_rows, (int, np.integer)) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    idx = np.arange(len(prompts), dtype=np.int64)
    nonempty = np.array([p is not None and p.strip() != "" for p in prompts], dtype=bool)
    n_empty = int((~nonempty).sum())
    idx = idx[nonempty]
    n_rep = n_conf = 0
    if dedup:
        keep, n_rep, n_conf = _dedup_positions([prompts[i] for i in idx], labels[idx])
        idx = idx[keep]
    if max_rows is not None and max_rows < len(idx):
        idx = idx[_balanced_subsample(labels[idx], int(max_rows), seed)]
    meta = dict(meta)
    meta.update(
        n_file_rows=len(prompts),
        n_dropped_empty=n_empty,
        n_dropped_duplicates=n_rep,
        n_dropped_conflicting=n_conf,
        max_rows=max_rows,
        seed=seed,
        dedup=dedup,
        row_index=idx,
    )
    return Dataset(
        name=name,
        texts=[prompts[i] for i in idx],
        labels=np.asarray(labels[idx], dtype=np.int64).copy(),
        classes=list(classes),
        meta=meta,
    )


def load_dataset(name: str, *, max_rows: int | None = None, seed: int = 42, dedup: bool = False) -> Dataset:
    """Load a binary or multiclass P1 dataset as texts + P1-encoded labels.

    Args:
        name: canonical name, tag or number (see :func:`resolve_name`).
        max_rows: if set and smaller than the dataset, a deterministic class-proportional subsample
            (binary P1 sets are exactly balanced and stay so), returned in file order.
        seed: seed of the subsample.
        dedup: drop repeated prompts (keep the first) and every row of a prompt that occurs with more
            than one label, *before* subsampling.

    Returns:
        :class:`Dataset` with ``texts`` (n), ``labels`` int64 ``[n]``, ``classes`` (K strings); rows whose
        prompt is empty or NaN are dropped (count in ``meta["n_dropped_empty"]``).
    """
    row = _row(name)
    prompts, labels, classes = _encoded(row["name"])
    meta = dict(kind=row["kind"], number=int(row["number"]), tag=row["tag"], path=row["path"], ood=False)
    return _build(row["name"], prompts, labels, classes, max_rows=max_rows, seed=seed, dedup=dedup, meta=meta)


def ood_path(name: str) -> Path:
    """Path of the OOD test file of a binary dataset (ValueError if it has none)."""
    row = _row(name)
    if not bool(row["has_ood"]):
        raise ValueError(f"{row['name']} has no OOD test file; OOD datasets: {', '.join(list_datasets('ood'))}")
    return data_dir() / "OOD data" / f"{row['name']}_OOD.csv.zst"


def load_ood(name: str, *, max_rows: int | None = None, seed: int = 42) -> Dataset:
    """Load the out-of-distribution test file of one of the 8 OOD datasets.

    Labels use the *in-distribution* dataset's encoding (same ``classes``), so a probe trained on
    :func:`load_dataset` can be scored on it directly. For all 8 files this equals P1's encoding (P1 fits
    a LabelEncoder on the OOD file alone). ``name`` of the result is ``"<canonical>_OOD"``.

    Raises:
        ValueError: no OOD file for this dataset, or an OOD label unseen in the parent dataset.
    """
    path = ood_path(name)
    parent = _row(name)["name"]
    _, _, classes = _encoded(parent)
    prompts, target = read_file(str(path))
    mapping = _OOD_LABEL_OVERRIDES.get(parent, {c: i for i, c in enumerate(classes)})
    values = [str(v) for v in target]
    unseen = sorted(set(values) - set(mapping))
    if unseen:
        raise ValueError(f"{path.name}: OOD labels {unseen} do not occur in {parent} (classes {list(classes)})")
    labels = np.array([mapping[v] for v in values], dtype=np.int64)
    row = _row(parent)
    meta = dict(kind="ood", number=int(row["number"]), tag=row["tag"], path=str(path), ood=True, parent=parent,
                ood_values={v: mapping[v] for v in sorted(set(values))})
    return _build(f"{parent}_OOD", prompts, labels, classes, max_rows=max_rows, seed=seed, dedup=False, meta=meta)
