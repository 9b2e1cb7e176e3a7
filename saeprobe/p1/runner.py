"""P1 results runner: one tidy, resumable results table per regime.

A *cell* is one (dataset, regime point, method spec): a pure function of the features (the
results folder belongs to one profile: its model, hook and rows; the cell names the dataset and
the SAE), the split (regime, point, dedup) and the method with its parameters, stored under
:func:`cell_key`. Every finished cell is written at once, atomically and only once, to its own
small JSON file in the results store (:class:`saeprobe.core.store.Store`: a local folder or any
fsspec URL), so an interrupted run loses at most the cells in flight, a re-run computes only what
is missing, and any number of workers (joblib here, Dask elsewhere: ``scheduler``, see
:mod:`saeprobe.core.scale`) can share one grid without a lost or doubled cell; a task re-checks the
store before each cell. :func:`run_regime` then concatenates all cells of the requested grid into
``<out_dir>/<regime>.parquet`` (atomic write).

Nothing here knows where features come from: the caller passes

* ``splits(dataset) -> list[saeprobe.p1.splits.Split]`` (e.g. ``splits.make_splits(regime, ...)``),
* ``features(dataset, source, ood=False) -> X`` with ``X`` of shape ``[n_rows, d]``, dense numpy
  or scipy CSR, rows aligned with the split indices (``ood=True``: rows of the OOD test file);
  ``source`` is ``"resid"`` for the baselines and the SAE's name for SAE probes.

so tests can use synthetic data and notebooks the cached activations / SAE codes.

Method specs are dicts: ``{"method": "lr"}``, ``{"method": "xgb"}``, ...,
``{"method": "sae", "sae": "16k", "k": 16, "ranking": "normalized", "penalty": "l1",
"binarize": False}``; any other key is passed to the estimator (see :mod:`saeprobe.p1.probes`).

Table columns (one row per cell): ``dataset, regime, param, dedup, method, sae, k, ranking, penalty,
binarize, hyperparameters`` (JSON of the chosen ``best_params_``), ``c_at_edge`` (the chosen C is the
largest or smallest of its grid; None for probes without a C), ``val_auc, test_auc`` (on
probabilities, as P1: float64 saturation ties included), ``test_auc_logit`` (on logits, no ties; NaN
for non-linear probes), ``test_acc, test_f1`` (weighted F1, as P1), ``n_train, n_test, n_pos_train, latents`` (chosen SAE latents, best
first; empty for baselines), ``seconds``, ``key``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from saeprobe.core import scale
from saeprobe.core.config import no_bar
from saeprobe.core.store import Store
from saeprobe.p1.probes import make_probe
from saeprobe.saes import sae_specs

__all__ = ["RESULTS_VERSION", "COLUMNS", "cell_key", "expand_methods", "specs_from_profile", "run_regime",
           "evaluate_cell", "load_results"]

#: Bump when a change to the probes invalidates stored cells (2: L1 fits moved from saga to liblinear;
#: 3: LR replays of P1's own fit (``p1_budget``) run lbfgs in float64 on float32 input, as P1's did;
#: 4: every cell records ``c_at_edge``).
RESULTS_VERSION = 4

COLUMNS = ["dataset", "regime", "param", "dedup", "method", "sae", "k", "ranking", "penalty", "binarize",
           "hyperparameters", "c_at_edge", "val_auc", "test_auc", "test_auc_logit", "test_acc", "test_f1", "n_train", "n_test",
           "n_pos_train", "latents", "seconds", "key"]

_SPEC_COLS = ("sae", "k", "ranking", "penalty", "binarize")


# --------------------------------------------------------------------------- specs and keys
def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def cell_key(dataset: str, regime: str, param, dedup: bool, spec: dict) -> str:
    """Stable id of one cell (sha256 of canonical JSON, first 20 hex chars)."""
    payload = dict(v=RESULTS_VERSION, dataset=dataset, regime=regime, param=param, dedup=bool(dedup),
                   spec=spec)
    return hashlib.sha256(_canon(payload).encode()).hexdigest()[:20]


def expand_methods(methods: Sequence[str | dict], saes: Sequence[str] = (), ks: Sequence[int] = (),
                   **sae_kw) -> list[dict]:
    """Method specs: every baseline name / spec in ``methods`` (``"sae"`` entries expand to one spec
    per SAE in ``saes`` and k in ``ks``, with ``sae_kw`` such as ranking / penalty / binarize)."""
    out = []
    for m in methods:
        spec = {"method": m} if isinstance(m, str) else dict(m)
        if spec["method"] == "sae" and "k" not in spec:
            for sae in (saes if "sae" not in spec else [spec["sae"]]):
                for k in ks:
                    out.append({**sae_kw, **spec, "sae": sae, "k": int(k)})
        else:
            out.append(spec)
    return out


def specs_from_profile(profile, regime: str, saes: Sequence[str] = ()) -> list[dict]:
    """Method specs of one regime from ``profile.p1`` (see the ``p1:`` section of the profiles).

    Standard: ``methods`` + SAE probes with ``sae_ks_standard``; other regimes: ``regime_methods`` +
    ``sae_ks_other``; OOD SAE probes use ``ood_sae`` (P1: k=128, L1, raw ranking). With
    ``regime_sae_widths`` set, the non-standard regimes use only the SAEs of those widths (P1 ran its
    regimes on the 16k SAE only; the standard regime keeps every SAE, P1's width sweep).
    """
    cfg = profile.p1
    base = cfg.methods if regime == "standard" else cfg.regime_methods_or_default
    specs = []
    for m in base:
        spec = {"method": m}
        if m == "lr" and cfg.lr_scale != "center":
            spec["scale"] = cfg.lr_scale
        if m == "xgb" and cfg.xgb_draws != 10:
            spec["n_iter"] = int(cfg.xgb_draws)
        specs.append(spec)
    widths = cfg.regime_sae_widths
    if saes and regime != "standard" and widths:
        width_of = {s.name: s.width for s in sae_specs(profile)}
        keep = [n for n in saes if width_of.get(n) in {int(w) for w in widths}]
        if not keep:
            raise ValueError(f"p1.regime_sae_widths={list(widths)} matches none of the SAEs {list(saes)}; "
                             "list widths of the profile's sae: section or drop the key")
        saes = keep
    if saes:
        if regime == "ood":
            ks = [int(cfg.ood_sae.k)]
            kw = dict(penalty=cfg.ood_sae.penalty, ranking=cfg.ood_sae.ranking)
        else:
            ks = cfg.sae_ks_standard if regime == "standard" else cfg.sae_ks_other
            kw = dict(ranking=cfg.sae_ranking, penalty=cfg.sae_penalty)
            if cfg.sae_binarize:
                kw["binarize"] = True
        specs += expand_methods(["sae"], saes=saes, ks=ks, **kw)
    return specs


# --------------------------------------------------------------------------- one cell
def _to_rows(X, idx):
    return X[np.asarray(idx)]


def evaluate_cell(spec: dict, X_train, y_train, X_test, y_test) -> dict:
    """Fit the probe of ``spec`` on (``X_train`` [n, d], ``y_train`` [n]); score on the test rows.

    Returns the metric part of a row: val_auc, test_auc, test_auc_logit, test_acc, test_f1 (weighted), hyperparameters
    (JSON), latents (list of int; SAE probes only). A single-class test set gives test_auc NaN.
    """
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    kw = {k: v for k, v in spec.items() if k not in ("method", "sae")}
    probe = make_probe(spec["method"], **kw)
    probe.fit(X_train, y_train)
    proba = probe.predict_proba(X_test)[:, 1]
    pred = probe.classes_[(proba > 0.5).astype(int)]
    y_test = np.asarray(y_test)
    two = len(np.unique(y_test)) == 2
    auc = float(roc_auc_score(y_test, proba)) if two else float("nan")
    auc_logit = float(roc_auc_score(y_test, probe.decision_function(X_test))) \
        if two and hasattr(probe, "decision_function") else float("nan")
    return dict(
        val_auc=float(probe.val_auc_),
        test_auc=auc,
        test_auc_logit=auc_logit,
        test_acc=float(accuracy_score(y_test, pred)),
        test_f1=float(f1_score(y_test, pred, average="weighted")),
        hyperparameters=_canon(getattr(probe, "best_params_", {})),
        c_at_edge=getattr(probe, "c_at_edge_", None),
        latents=[int(i) for i in getattr(probe, "latents_", [])],
    )


# --------------------------------------------------------------------------- storage
def _cell_parts(regime: str, key: str) -> tuple[str, str, str]:
    return "cells", regime, f"{key}.json"


def _read_cell(store: Store, regime: str, key: str) -> dict | None:
    """A stored cell, or None when missing / unreadable / not the cell asked for."""
    text = store.read_text(*_cell_parts(regime, key))
    try:
        rec = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(rec, dict) or rec.get("key") != key or rec.get("version") != RESULTS_VERSION:
        return None
    return rec


def _store_cell(store: Store, regime: str, rec: dict) -> dict:
    """Write ``rec`` once; if another worker stored this cell first, its record is the one returned
    (a corrupt file in the way is replaced)."""
    parts = _cell_parts(regime, rec["key"])
    if store.write_text(*parts, text=_canon(rec), once=True):
        return rec
    other = _read_cell(store, regime, rec["key"])
    if other is not None:
        return other
    store.write_text(*parts, text=_canon(rec))
    return rec


# --------------------------------------------------------------------------- runner
def _run_cells(X, X_ood, dataset, regime, dedup, jobs, store) -> tuple[list[dict], int]:
    """Compute every (split, spec, key) of ``jobs`` on features ``X`` [n_rows, d] (test rows from
    ``X_ood`` when given) unless the store has it by now; each cell is written at once.
    Returns the records and how many of them this call computed."""
    store = Store(store)
    recs, n_computed = [], 0
    for split, spec, key in jobs:
        done = _read_cell(store, regime, key)
        if done is not None:  # finished by another worker since the grid was planned
            recs.append(done)
            continue
        t0 = time.perf_counter()
        Xte_src = X_ood if X_ood is not None else X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = evaluate_cell(spec, _to_rows(X, split.train_idx), split.y_train,
                                    _to_rows(Xte_src, split.test_idx), split.y_test)
        rec = dict(
            version=RESULTS_VERSION, key=key, dataset=dataset, regime=regime,
            param=None if split.param is None else float(split.param), dedup=bool(dedup),
            method=spec["method"], sae=spec.get("sae"), k=spec.get("k"), ranking=spec.get("ranking"),
            penalty=spec.get("penalty"), binarize=spec.get("binarize"),
            n_train=int(split.num_train), n_test=int(split.num_test),
            n_pos_train=int(np.sum(split.y_train == 1)), **metrics,
            seconds=round(time.perf_counter() - t0, 4),
        )
        recs.append(_store_cell(store, regime, rec))
        n_computed += 1
    return recs, n_computed


def _run_group(dataset, source, regime, dedup, jobs, features, out_dir) -> tuple[list[dict], int]:
    """:func:`_run_cells` for one (dataset, feature source), features read in the worker."""
    X = features(dataset, source)
    X_ood = features(dataset, source, ood=True) if regime == "ood" else None
    return _run_cells(X, X_ood, dataset, regime, dedup, jobs, out_dir)


def run_regime(
    regime: str,
    datasets: Iterable[str],
    specs: Sequence[dict],
    *,
    splits: Callable[[str], list],
    features: Callable[..., object],
    out_dir: str | os.PathLike,
    dedup: bool = False,
    n_jobs: int = 2,
    progress: bool = True,
    table: str | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run (or resume) every cell of one regime; write and return ``<out_dir>/<regime>[_dedup].parquet``.

    Args:
        regime: regime name (``standard``, ``scarcity``, ``imbalance``, ``label_noise``, ``ood``).
        datasets: dataset names passed to ``splits`` and ``features``.
        specs: method specs (see module docstring / :func:`expand_methods`).
        splits: ``dataset -> list[Split]`` (one per regime point).
        features: ``(dataset, source, ood=False) -> X [n_rows, d]`` (dense or CSR).
        out_dir: results store (a folder or an fsspec URL); cells live in ``out_dir/cells/<regime>/``.
        n_jobs: joblib workers (groups of cells sharing one feature matrix run in parallel).
        table: name of the parquet table written (default ``<regime>[_dedup]``): a page that runs a
            different grid over the same cells (e.g. the SAE ladder) names its own table and still
            reuses every finished cell.
        scheduler: a Dask scheduler (``"local:N"``, ``"tcp://host:8786"``) to run the groups on;
            None: :func:`saeprobe.core.scale.scheduler_for` (``$SAEPROBE_SCHEDULER``, else the
            ``scale.scheduler`` of ``features.profile``, else joblib). The table does not depend on it.

    Returns: the tidy table (columns :data:`COLUMNS`), one row per cell, sorted.
    Attribute ``df.attrs["n_computed"]`` says how many cells this call computed (0 on a full resume).
    """
    from tqdm.auto import tqdm

    store = Store(out_dir)
    datasets = list(datasets)
    if not specs:
        raise ValueError("run_regime: no method specs given; pass e.g. [{'method': 'lr'}].")
    sched = scale.scheduler_for(scheduler, getattr(features, "profile", None))
    rows, groups = [], {}
    for ds in datasets:
        for split in splits(ds):
            param = None if split.param is None else float(split.param)
            for spec in specs:
                key = cell_key(ds, regime, param, dedup, spec)
                rec = _read_cell(store, regime, key)
                if rec is not None:
                    rows.append(rec)
                    continue
                source = (spec.get("sae") or "resid") if spec["method"] == "sae" else "resid"
                groups.setdefault((ds, source), []).append((split, spec, key))
    n_todo = sum(len(v) for v in groups.values())
    n_computed = 0
    if groups:
        if sched is None:
            fn, calls = _run_group, [((ds, src, regime, dedup, jobs, features, store), {})
                                     for (ds, src), jobs in groups.items()]
        else:
            fn, calls = _run_cells, [((features(ds, src), features(ds, src, ood=True) if regime == "ood" else None,
                                       ds, regime, dedup, jobs, store), {}) for (ds, src), jobs in groups.items()]
        bar = tqdm(total=n_todo, desc=f"P1 {regime}", disable=no_bar(progress))
        for recs, n in scale.run_tasks(fn, calls, scheduler=sched, n_jobs=n_jobs):
            rows.extend(recs)
            n_computed += n
            bar.update(len(recs))
        bar.close()
    df = _table(rows)
    name = table or (f"{regime}_dedup" if dedup else regime)
    store.write_parquet(f"{name}.parquet", df=df)
    df.attrs["n_computed"] = n_computed
    return df


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[COLUMNS]
    if len(df):
        df = df.sort_values(["dataset", "param", "method", "sae", "k"], na_position="first",
                            key=lambda s: s.astype(str) if s.dtype == object else s).reset_index(drop=True)
    return df


def load_results(out_dir: str | os.PathLike, regime: str, dedup: bool = False) -> pd.DataFrame:
    """Read ``<out_dir>/<regime>[_dedup].parquet`` (FileNotFoundError with a hint if missing)."""
    name = f"{regime}_dedup" if dedup else regime
    store = Store(out_dir)
    if not store.exists(f"{name}.parquet"):
        raise FileNotFoundError(f"{store.url(name + '.parquet')} does not exist; run "
                                f"saeprobe.p1.runner.run_regime({regime!r}, ...) first.")
    return store.read_parquet(f"{name}.parquet")
