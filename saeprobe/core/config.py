"""Run configuration: one :class:`Profile` object per run, read from a YAML file and validated at once.

Profiles live in ``saeprobe/profiles/<name>.yaml`` (``smoke``, ``cpu``, ``paper``); any other YAML
file can be passed by path. Every knob an experiment reads comes from the profile, so a notebook's
only parameter is the profile name (plus explicit overrides for papermill). The sections
(``sae``, ``p1``, ``p2``, ``p3``, ``scale``) are typed dataclasses (:mod:`saeprobe.core.settings`), where every
default lives once.

Everything that can be known before a run is checked by :func:`load_profile`: unknown keys at any
depth (with the close match), value types, dataset names (resolved to canonical names), layers
outside the model's range (for models whose depth is known without loading them) and a main layer
missing from ``layers``.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saeprobe.core import data
from saeprobe.core.settings import (
    SECTIONS,
    P1Settings,
    P2Settings,
    P3Settings,
    SAESettings,
    ScaleSettings,
    SettingsError,
    as_dict,
    merge,
    parse,
)
from saeprobe.core.typed import _hint

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"

#: Depth (number of transformer blocks) of models known without loading them, for early layer checks.
KNOWN_N_LAYERS = {
    "google/gemma-3-270m": 18, "gemma-3-270m": 18,
    "google/gemma-2-2b": 26, "google/gemma-2-9b": 42, "google/gemma-2-9b-it": 42,
    "EleutherAI/pythia-160m": 12, "pythia-160m": 12, "meta-llama/Llama-3.1-8B": 32,
}


def no_bar(progress: bool) -> bool:
    """``disable=`` for tqdm: no bar when ``progress`` is false or ``TQDM_DISABLE`` is set (the book
    runner sets it so rendered pages carry no progress-bar text; an explicit ``disable=False`` would
    otherwise override tqdm's own reading of that variable)."""
    return (not progress) or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


def default_home() -> Path:
    """Root folder for caches (model weights, activations, SAEs, results).

    ``$SAEPROBE_HOME`` if set and non-empty, else ``~/.cache/saeprobe`` (an empty value must not
    turn into the current folder, which would scatter caches into the working tree).
    """
    return Path(os.environ.get("SAEPROBE_HOME") or Path.home() / ".cache" / "saeprobe").expanduser()


@dataclass(frozen=True)
class Profile:
    """Everything that defines one run: core fields plus the typed sections ``sae``, ``p1``, ``p2``,
    ``p3``, ``scale``. Build it with :func:`load_profile` (validated); ``datasets`` / ``ood_datasets`` hold
    canonical names."""

    name: str
    description: str = ""
    model: str = "google/gemma-3-270m"
    device: str | None = None  # None: CUDA when available, else CPU
    dtype: str = "float32"
    hook: str = "blocks.{layer}.hook_resid_post"
    layers: tuple[int, ...] = (12,)
    main_layer: int = 12
    max_len: int = 1024
    batch_size: int = 32
    datasets: tuple[str, ...] = ()  # binary P1 datasets; ["all"] in YAML for every one
    ood_datasets: tuple[str, ...] = ()
    max_rows: int | None = None  # per dataset, class-balanced subsample (seeded); None = all rows
    seed: int = 42
    home: str | None = None  # cache root; None -> default_home()
    sae: SAESettings = SAESettings()
    p1: P1Settings = P1Settings()
    p2: P2Settings = P2Settings()
    p3: P3Settings = P3Settings()
    scale: ScaleSettings = ScaleSettings()

    # ------------------------------------------------------------------ derived
    @property
    def home_dir(self) -> Path:
        """Cache root as a :class:`Path` (created on demand by the writers)."""
        return Path(self.home).expanduser() if self.home else default_home()

    def hook_name(self, layer: int | None = None) -> str:
        """TransformerLens hook name for ``layer`` (default: the main layer)."""
        return self.hook.format(layer=self.main_layer if layer is None else layer)

    @property
    def hooks(self) -> list[str]:
        """Hook names for every profile layer, in layer order."""
        return [self.hook_name(layer) for layer in sorted(self.layers)]

    def dataset_names(self) -> list[str]:
        """The profile's binary datasets (canonical P1 names, resolved at load)."""
        return list(self.datasets)

    def replace(self, **changes: Any) -> "Profile":
        """A copy with some fields changed, validated like a file; a mapping given for a section
        is merged into it key by key."""
        return load_profile(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML-safe) of every field."""

        return as_dict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(Profile)}
_CORE_TYPES = {"layers": int, "main_layer": int, "max_len": int, "batch_size": int, "seed": int}


def _check_core(vals: dict, source: str) -> None:
    for key in ("layers", "datasets", "ood_datasets"):
        v = vals.get(key)
        if v is not None and (isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple))):
            raise SettingsError(f"{source}: {key}: expected a list, got {v!r}")
    for key, typ in _CORE_TYPES.items():
        vs = vals.get(key)
        for v in (vs if isinstance(vs, (list, tuple)) else [vs]):
            if v is not None and (isinstance(v, bool) or not isinstance(v, typ)):
                raise SettingsError(f"{source}: {key}: expected integers, got {vs!r}")


def _resolve(names, what: str, source: str, *, allow_all: bool = False, kind: str = "binary") -> tuple:
    names = tuple(names or ())
    if allow_all and names == ("all",):
        return tuple(data.list_datasets(kind))
    out = []
    for n in names:
        try:
            out.append(data.resolve_name(n))
        except ValueError as err:
            raise SettingsError(f"{source}: {what}: {err}") from None
    return tuple(out)


def _validate(prof: Profile, source: str) -> Profile:
    """Cross-field checks of a parsed profile; returns it with canonical dataset names."""
    if prof.main_layer not in prof.layers:
        raise SettingsError(f"{source}: main_layer {prof.main_layer} is not in layers {list(prof.layers)}; add it")
    if prof.max_len < 2:
        raise SettingsError(f"{source}: max_len must be >= 2 (got {prof.max_len})")
    n_layers = KNOWN_N_LAYERS.get(prof.model)
    if n_layers is not None:
        bad = [layer for layer in prof.layers if not 0 <= layer < n_layers]
        if bad:
            raise SettingsError(f"{source}: layers {bad} are outside {prof.model}'s blocks 0..{n_layers - 1}")
    datasets = _resolve(prof.datasets, "datasets", source, allow_all=True)
    ood = _resolve(prof.ood_datasets, "ood_datasets", source)
    no_ood = [n for n in ood if n not in set(data.list_datasets("ood"))]
    if no_ood:
        raise SettingsError(f"{source}: ood_datasets: {no_ood[0]} has no OOD test file; "
                            f"choose from {', '.join(data.list_datasets('ood'))}")
    p2, p3 = prof.p2, prof.p3
    _resolve(p2.probe_datasets, "p2.probe_datasets", source)
    _resolve(prof.p1.multi_token.datasets, "p1.multi_token.datasets", source)
    _resolve(p3.binary, "p3.binary", source)
    if p3.multiclass != "all":
        _resolve(p3.multiclass, "p3.multiclass", source)
    _resolve(p3.crosslingual, "p3.crosslingual", source)
    for layer in p3.layers or ():
        if layer not in prof.layers:
            raise SettingsError(f"{source}: p3.layers: {layer} is not a profile layer {list(prof.layers)}")
    lad = prof.sae.ladder
    if prof.sae.saes and not 0 <= lad.entry < len(prof.sae.saes):
        raise SettingsError(f"{source}: sae.ladder.entry: {lad.entry} is not an index of sae.saes (0..{len(prof.sae.saes) - 1})")
    if any(f <= 0 for f in lad.fractions + lad.extra_fractions):
        raise SettingsError(f"{source}: sae.ladder: token fractions must be > 0")
    _resolve(lad.p3_datasets, "sae.ladder.p3_datasets", source)
    for i, entry in enumerate(prof.sae.saes):
        for layer in entry.layers or ():
            if layer not in prof.layers:
                raise SettingsError(f"{source}: sae.saes[{i}].layers: {layer} is not in layers {list(prof.layers)}")
    return dataclasses.replace(prof, datasets=datasets, ood_datasets=ood)


def _from_dict(raw: dict, source: str = "profile") -> Profile:
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        raise SettingsError(f"{source}: {unknown[0]}: unknown key{_hint(str(unknown[0]), _FIELDS)}")
    vals = dict(raw)
    _check_core(vals, source)
    for key in ("layers", "datasets", "ood_datasets"):
        if key in vals and vals[key] is not None:
            vals[key] = tuple(vals[key])
    for key, cls in SECTIONS.items():
        vals[key] = parse(cls, vals.get(key), key)
    if "name" not in vals:
        raise SettingsError(f"{source}: 'name' is required")
    try:
        prof = Profile(**vals)
    except TypeError as err:
        raise SettingsError(f"{source}: {err}") from None
    return _validate(prof, source)


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def profile_path(name_or_path: str | os.PathLike) -> Path:
    """The YAML file behind a shipped profile name or a path (ValueError naming close matches)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    path = PROFILE_DIR / f"{text}.yaml"
    if not path.exists():
        close = difflib.get_close_matches(text, list_profiles(), n=3)
        raise ValueError(f"unknown profile {text!r}: choose one of {list_profiles()}"
                         + (f" (close: {close})" if close else "") + " or pass a path to a .yaml file")
    return path


def load_profile(name_or_path: str | os.PathLike | Profile = "cpu", **overrides: Any) -> Profile:
    """Read a profile by shipped name (``"cpu"``) or YAML path (or copy a :class:`Profile`), with
    ``overrides``: core fields replace, section mappings merge key by key.

    Raises ``ValueError`` with a one-line message: unknown profile (close matches), unknown key at
    any depth (close match), wrong type, unknown dataset, layer out of range, main layer not in
    ``layers``.
    """
    if isinstance(name_or_path, Profile):
        if not overrides:
            return name_or_path
        raw = {f: getattr(name_or_path, f) for f in _FIELDS}
        source = f"profile {name_or_path.name!r}"
    else:
        path = profile_path(name_or_path)
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise SettingsError(f"{path}: a profile is a mapping of settings, got {type(raw).__name__}")
        source = str(path)
    for key, value in overrides.items():
        if key in SECTIONS and isinstance(value, dict):
            raw[key] = merge(raw.get(key) or {}, value)
        else:
            raw[key] = value
    return _from_dict(raw, source=source)
