"""A checked plan of a profile, without loading a model: ``python -m saeprobe.book plan --profile paper``.

:func:`profile_plan` lists every model, hook, SAE (release / id), dataset and grid cell the profile
implies, the disk each cache needs and the cost of P1's grid estimated from the seconds per cell
that the cpu profile's results store recorded (scaled by training rows, and by d_model for the
baselines). It **validates** every model name against TransformerLens's official model list and
every SAE against sae-lens's own ``pretrained_saes.yaml`` (release, id, and that the release was
trained on the model it is applied to): a typo raises :class:`PlanError`, one line with the close
match. Reading the 113 datasets' labels (for exact regime points and training rows) takes seconds.
"""
from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saeprobe.core import data
from saeprobe.core.activations import DEFAULT_REDUCERS
from saeprobe.core.cache import results_dir
from saeprobe.core.config import load_profile
from saeprobe.p1 import features as P1F
from saeprobe.p1 import runner, splits
from saeprobe.p3.settings import datasets as p3_datasets
from saeprobe.p3.settings import feature_forms, p3_profile
from saeprobe.p3.settings import settings as p3_settings
from saeprobe.saes import sae_specs

__all__ = ["PlanError", "Plan", "profile_plan", "check_model", "check_sae", "format_plan"]

REGIMES = ("standard", "scarcity", "imbalance", "label_noise", "ood")


class PlanError(ValueError):
    """A name in the profile that TransformerLens or sae-lens does not know (one line, close match)."""


def _close(bad: str, valid) -> str:
    hit = difflib.get_close_matches(bad, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {hit[0]!r}?)" if hit else ""


# ------------------------------------------------------------------------------ the two catalogues
@functools.lru_cache(maxsize=1)
def sae_catalogue() -> dict:
    """sae-lens's ``pretrained_saes.yaml``: ``{release: {"model": str, "ids": set}}`` and its path."""
    import sae_lens
    import yaml

    path = Path(sae_lens.__file__).parent / "pretrained_saes.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(path.read_text(), Loader=loader)
    cat = {rel: {"model": str(v.get("model", "")), "ids": {str(s["id"]) for s in v.get("saes", [])}}
           for rel, v in raw.items() if isinstance(v, dict)}
    return {"path": str(path), "version": sae_lens.__version__, "releases": cat}


@functools.lru_cache(maxsize=1)
def _tl():
    import transformer_lens.loading_from_pretrained as L

    return L


def check_model(name: str, where: str = "model") -> str:
    """``name`` if it is one of TransformerLens's official models (or an alias); else PlanError."""
    L = _tl()
    if name in L.OFFICIAL_MODEL_NAMES:
        return name
    for official, aliases in L.MODEL_ALIASES.items():
        if name in aliases:
            return official
    raise PlanError(f"{where}: {name!r} is not in TransformerLens's model list{_close(name, L.OFFICIAL_MODEL_NAMES)}")


def model_shape(name: str) -> dict:
    """d_model, n_layers, d_vocab and an approximate parameter count, from TransformerLens's config
    table (offline; no weights)."""
    c = _tl().convert_hf_model_config(check_model(name))
    d, n, v = int(c["d_model"]), int(c["n_layers"]), int(c["d_vocab"])
    heads, kv, dh = int(c["n_heads"]), int(c.get("n_key_value_heads") or c["n_heads"]), int(c["d_head"])
    per_layer = d * dh * 2 * (heads + kv) + 3 * d * int(c["d_mlp"])
    return {"d_model": d, "n_layers": n, "d_vocab": v, "params": v * d + n * per_layer}


def check_sae(spec: str, where: str, model: str | None = None) -> dict:
    """``"release/sae_id"`` checked against sae-lens (and the release's model against ``model``)."""
    rels = sae_catalogue()["releases"]
    if "/" not in spec:
        raise PlanError(f"{where}: {spec!r} is not 'release/sae_id'")
    release, sae_id = spec.split("/", 1)
    if release not in rels:
        raise PlanError(f"{where}: sae-lens has no release {release!r}{_close(release, rels)}")
    ids = rels[release]["ids"]
    if sae_id not in ids:
        raise PlanError(f"{where}: release {release} has no SAE {sae_id!r}{_close(sae_id, ids)}")
    trained_on = rels[release]["model"]
    if model is not None and check_model(trained_on, f"{where} (release model)") != check_model(model):
        raise PlanError(f"{where}: {release} was trained on {trained_on}, not {model}")
    m = re.search(r"width_(\d+)([km])", sae_id)  # Gemma Scope: 16k = 2**14, 262k = 2**18, 1m = 2**20
    width = 2 ** round(math.log2(int(m.group(1)) * (1000 if m.group(2) == "k" else 1_000_000))) if m else None
    m = re.search(r"layer_(\d+)", sae_id)
    return {"where": where, "release": release, "id": sae_id, "model": trained_on, "width": width,
            "layer": int(m.group(1)) if m else None}


# ------------------------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """What a profile implies (tables as DataFrames; sizes in bytes, costs in CPU-seconds)."""

    profile: str
    models: pd.DataFrame
    hooks: list
    saes: pd.DataFrame
    datasets: dict
    p1: pd.DataFrame
    p3: pd.DataFrame
    disk: pd.DataFrame
    notes: list = field(default_factory=list)


@functools.lru_cache(maxsize=None)
def _labels(name: str, max_rows: int | None, seed: int) -> np.ndarray:
    return np.asarray(data.load_dataset(name, max_rows=max_rows, seed=seed).labels)


def _p1_saes(prof) -> dict[str, int]:
    """P1's probe SAEs: ``{name: width}`` (our own main-layer ones, else the hub's at the main layer)."""
    own = {s.name: s.width for s in P1F.main_sae_specs(prof)}
    if own or prof.sae.source != "hub":
        return own
    out = {}
    for label, spec in prof.sae.hub.items():
        if re.fullmatch(rf"{prof.main_layer}(_\w+)?", str(label)) and "l0" not in str(label):
            out[str(label)] = check_sae(spec, f"sae.hub[{label!r}]")["width"]
    return out


def _regime_splits(prof, regime: str, y, ood_y):
    p1, seed = prof.p1, prof.seed
    if regime == "standard":
        return [splits.standard_split(y, seed=seed, min_test=p1.min_test)]
    if regime == "scarcity":
        return splits.scarcity_splits(y, p1.scarcity_sizes, seed=seed, min_test=p1.min_test)
    if regime == "imbalance":
        return splits.imbalance_splits(y, p1.imbalance_fracs, seed=seed)
    if regime == "label_noise":
        return splits.label_noise_splits(y, p1.noise_fracs, seed=seed, min_test=p1.min_test)
    return [splits.ood_split(y, ood_y, seed=seed)]


def measured_cell_seconds(ref: str = "cpu") -> pd.DataFrame:
    """Median seconds per P1 cell by (method, k) in the ``ref`` profile's results store, with the
    median training rows and d of those cells (empty when that profile has not run)."""
    prof = load_profile(ref)
    folder = results_dir(prof, "p1")
    frames = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))] if folder.exists() else []
    if not frames:
        return pd.DataFrame(columns=["method", "k", "seconds", "n_train", "cells"])
    df = pd.concat(frames, ignore_index=True).drop_duplicates("key")
    df["k"] = df["k"].fillna(0).astype(int)
    out = df.groupby(["method", "k"]).agg(seconds=("seconds", "median"), n_train=("n_train", "median"),
                                          cells=("key", "size")).reset_index()
    out.attrs["d_model"] = model_shape(prof.model)["d_model"]
    out.attrs["n_cells"] = len(df)
    out.attrs["seconds"] = float(df["seconds"].sum())
    return out


def _cost_table(ref: pd.DataFrame) -> dict:
    """``{(method, k): (seconds, n_train)}`` of the measured cells (k 0 for baselines)."""
    return {(r.method, int(r.k)): (float(r.seconds), max(float(r.n_train), 1.0)) for r in ref.itertuples()}


def _cell_cost(table: dict, d_ref: int, method: str, k: int, n_train: int, d_model: int) -> float:
    """Seconds of one cell: the measured median of its (method, k) -- an SAE probe at an unmeasured
    k takes the nearest measured k -- x training rows, x d_model for a baseline (NaN: unmeasured)."""
    hit = table.get((method, k if method == "sae" else 0))
    if hit is None and method == "sae":
        ks = [kk for m, kk in table if m == "sae"]
        hit = table[("sae", min(ks, key=lambda kk: abs(kk - k)))] if ks else None
    if hit is None:
        return float("nan")
    secs, rows = hit
    scale = n_train / rows
    if method != "sae":  # a baseline sees d_model columns; an SAE probe sees its k latents
        scale *= d_model / d_ref
    return secs * scale


def profile_plan(name: str = "paper", *, reference: str = "cpu") -> Plan:
    """The checked plan of profile ``name`` (see the module docstring). Raises :class:`PlanError`."""
    prof = load_profile(name)
    notes = []
    # models
    used = {prof.model: "profile (P1, P2, P3)"}
    for m, why in ((prof.p3.cross_model.model_a, "p3.cross_model.model_a"),
                   (prof.p3.cross_model.model_b, "p3.cross_model.model_b"),
                   (prof.p2.hub_model, "p2.hub_model"), *((m, "p3.hub_saes") for m in prof.p3.hub_saes)):
        if m:
            used.setdefault(m, why)
    mrows = []
    for m, why in used.items():
        check_model(m, why)
        sh = model_shape(m)
        mrows.append({"model": m, "used by": why, **sh, "weights_bytes": sh["params"] * (4 if prof.dtype == "float32" else 2)})
    models = pd.DataFrame(mrows)
    shape = model_shape(prof.model)
    # SAEs
    srows = [dict(check_sae(spec, f"sae.hub[{label!r}]", prof.model), used="sae.hub")
             for label, spec in prof.sae.hub.items()]
    p2m = prof.p2.hub_model or prof.model
    if prof.p2.hub_release:
        srows += [dict(check_sae(f"{prof.p2.hub_release}/{i}", "p2.hub_ids", p2m), used="p2 seed pair")
                  for i in prof.p2.hub_ids]
    for spec in prof.p2.hub_twins:
        for s in (spec, spec + "_seed_1"):
            srows.append(dict(check_sae(s, "p2.hub_twins", p2m), used="p2 seed twins"))
    for m, specs in prof.p3.hub_saes.items():
        srows += [dict(check_sae(s, f"p3.hub_saes[{m!r}]", m), used="p3") for s in specs]
    for s in sae_specs(prof):
        srows.append({"where": "sae.saes", "release": "(ours, trained here)", "id": s.name, "model": prof.model,
                      "width": s.width, "layer": s.layer, "used": "local"})
    saes = pd.DataFrame(srows)
    d_in = {r["model"]: r["d_model"] for r in mrows}
    saes["weights_bytes"] = [2 * 4 * int(r.width or 0) * d_in.get(check_model(r.model), shape["d_model"])
                             for r in saes.itertuples()]
    # datasets and P1's grid
    names, ood = prof.dataset_names(), list(prof.ood_datasets)
    p1_saes = _p1_saes(prof)
    ref = measured_cell_seconds(reference)
    if ref.empty:
        notes.append(f"no P1 results of the {reference!r} profile on this machine: costs not estimated")
    rows_of = {n: len(_labels(n, prof.max_rows, prof.seed)) for n in names}
    table, d_ref = _cost_table(ref), ref.attrs.get("d_model", shape["d_model"])
    p1rows = []
    for regime in REGIMES:
        specs = runner.specs_from_profile(prof, regime, saes=list(p1_saes))
        todo = ood if regime == "ood" else names
        n_ds = cells = 0
        cost, unmeasured = 0.0, set()
        for n in todo:
            y = _labels(n, prof.max_rows, prof.seed)
            try:
                sp = _regime_splits(prof, regime, y, np.asarray(data.load_ood(n).labels) if regime == "ood" else None)
            except ValueError:
                continue
            n_ds += 1
            cells += len(sp) * len(specs)
            for x in sp:
                for s in specs if not ref.empty else ():
                    c = _cell_cost(table, d_ref, s["method"], int(s.get("k") or 0), int(x.num_train), shape["d_model"])
                    if math.isnan(c):
                        unmeasured.add(s["method"])
                    else:
                        cost += c
        p1rows.append({"regime": regime, "datasets": n_ds, "specs": len(specs), "cells": cells,
                       "cpu_seconds": cost if not ref.empty else float("nan"),
                       "unmeasured": ", ".join(sorted(unmeasured))})
    p1 = pd.DataFrame(p1rows)
    missing = sorted({m for v in p1["unmeasured"] for m in v.split(", ") if m})
    if missing:
        notes.append(f"no cells of {', '.join(missing)} in the {reference!r} results store: their cells are not in the cost")
    # P3's grid
    pp = p3_profile(prof)
    s3 = p3_settings(pp)
    p3names = p3_datasets(pp)
    n_sae_cfg = len(feature_forms(s3)) * len(s3.binarize) * len(s3.layers)
    n_hidden = 2 * len(s3.layers) * (2 if s3.hidden_C_grid else 1)
    p3 = pd.DataFrame([{"datasets": len(p3names), "binary": sum(k == "binary" for _, k in p3names),
                        "multiclass": sum(k == "multiclass" for _, k in p3names),
                        "configs_per_dataset": 1 + n_hidden + n_sae_cfg, "C_values": len(s3.C_grid),
                        "cells": len(p3names) * (1 + n_hidden + n_sae_cfg)}])
    # disk
    all_rows = sum(rows_of.values()) + sum(len(data.load_ood(n).labels) for n in ood)
    acts = all_rows * len(prof.layers) * len(DEFAULT_REDUCERS) * shape["d_model"] * 4
    cell_bytes = _cell_bytes(reference)
    disk = pd.DataFrame([
        {"cache": "model weights", "bytes": int(models["weights_bytes"].sum()), "basis": f"{prof.dtype} parameters"},
        {"cache": "activations", "bytes": acts, "basis": f"{all_rows:,} rows x {len(prof.layers)} hooks x "
                                                           f"{len(DEFAULT_REDUCERS)} reducers x d_model {shape['d_model']} x fp32"},
        {"cache": "SAE weights", "bytes": int(saes["weights_bytes"].sum()), "basis": "W_enc + W_dec, fp32"},
        {"cache": "P1 results", "bytes": int(p1["cells"].sum() * cell_bytes),
         "basis": f"{cell_bytes:.0f} B per cell (mean on {reference})"},
    ])
    datasets = {"binary": len(names), "rows": sum(rows_of.values()), "ood": len(ood), "p3": len(p3names)}
    if not ref.empty:
        notes.append(f"reference: {ref.attrs['n_cells']:,} cells of the {reference!r} profile measured "
                     f"{ref.attrs['seconds'] / 3600:.2f} CPU-h on this machine (2 shared cores); sklearn fits do "
                     "not run on a GPU, so this is CPU time however many machines share it")
    return Plan(prof.name, models, list(prof.hooks), saes, datasets, p1, p3, disk, notes)


def _cell_bytes(ref: str) -> float:
    folder = results_dir(load_profile(ref), "p1") / "cells"
    sizes = [p.stat().st_size for p in folder.glob("*/*.json")] if folder.exists() else []
    return float(np.mean(sizes)) if sizes else 1000.0


def _gb(b) -> str:
    return f"{b / 1e9:,.2f} GB" if b >= 1e8 else f"{b / 1e6:,.1f} MB"


def format_plan(plan: Plan) -> str:
    """The plan as text (what the CLI prints)."""
    cat = sae_catalogue()
    out = [f"plan for profile {plan.profile!r} (no model loaded; names checked against TransformerLens's "
           f"model list and sae-lens {cat['version']} {cat['path']})", "", "models:"]
    for r in plan.models.itertuples():
        out.append(f"  {r.model:28s} {r._2:26s} d_model {r.d_model}, {r.n_layers} layers, "
                   f"~{r.params / 1e9:.2f}B params, weights {_gb(r.weights_bytes)}  [ok]")
    out += [f"hooks: {', '.join(plan.hooks)}", "", f"SAEs ({len(plan.saes)}):"]
    for r in plan.saes.itertuples():
        out.append(f"  {r.where:34s} {r.release}/{r.id}  width {r.width}, layer {r.layer}, on {r.model}"
                   f"  {_gb(r.weights_bytes)}  [ok]")
    d = plan.datasets
    out += ["", f"datasets: {d['binary']} binary ({d['rows']:,} rows), {d['ood']} OOD files, {d['p3']} P3 datasets",
            "", "P1 grid (cells = datasets x regime points x method specs; cost from the cpu profile's "
            "seconds per cell, x training rows, x d_model for the baselines):"]
    for r in plan.p1.itertuples():
        cost = "n/a" if math.isnan(r.cpu_seconds) else f"{r.cpu_seconds / 3600:,.1f} CPU-h"
        out.append(f"  {r.regime:12s} {r.datasets:4d} datasets  {r.specs:3d} specs  {r.cells:8,d} cells  {cost}")
    tot = plan.p1["cpu_seconds"].sum()
    out.append(f"  {'total':12s} {int(plan.p1['cells'].sum()):33,d} cells  "
               + ("n/a" if math.isnan(tot) else f"{tot / 3600:,.1f} CPU-h"))
    r = plan.p3.iloc[0]
    out += ["", f"P3 grid: {r.datasets} datasets ({r.binary} binary, {r.multiclass} multiclass) x "
                f"{r.configs_per_dataset} configurations of the pooling grid (TF-IDF, hidden states, every "
                f"pooled SAE form at every P3 layer) = {r.cells:,} cells, each a C path of {r.C_values} values "
                "(P3's store records no seconds: cost not estimated)", "", "disk:"]
    for x in plan.disk.itertuples():
        out.append(f"  {x.cache:14s} {_gb(x.bytes):>12s}   {x.basis}")
    out.append(f"  {'total':14s} {_gb(plan.disk['bytes'].sum()):>12s}")
    out += [f"note: {n}" for n in plan.notes]
    return "\n".join(out)
