"""Run configuration: one :class:`Profile` object per run, read from a YAML file.

Profiles live in ``saeprobe/profiles/<name>.yaml`` (``smoke``, ``cpu``, ``paper``); any other YAML
file can be passed by path. Every knob an experiment reads comes from the profile, so a notebook's
only parameter is the profile name (plus explicit overrides for papermill).
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"


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
    """Everything that defines one run.

    Core fields are typed; experiment-specific sections (``sae``, ``p1``, ``p2``, ``p3``) are plain
    dicts owned by the module that reads them.
    """

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
    datasets: tuple[str, ...] = ()  # binary P1 datasets; ("all",) for every one
    ood_datasets: tuple[str, ...] = ()
    max_rows: int | None = None  # per dataset, class-balanced subsample (seeded); None = all rows
    seed: int = 42
    home: str | None = None  # cache root; None -> default_home()
    sae: dict = field(default_factory=dict)
    p1: dict = field(default_factory=dict)
    p2: dict = field(default_factory=dict)
    p3: dict = field(default_factory=dict)

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
        """The profile's binary datasets, resolved to canonical P1 names."""
        from saeprobe import data

        if tuple(self.datasets) == ("all",):
            return data.list_datasets("binary")
        return [data.resolve_name(n) for n in self.datasets]

    def replace(self, **changes: Any) -> "Profile":
        """A copy with some fields changed (validated like a file)."""
        return _from_dict({**dataclasses.asdict(self), **changes})

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML-safe) of every field."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


_FIELDS = {f.name for f in dataclasses.fields(Profile)}


def _from_dict(raw: dict, source: str = "profile") -> Profile:
    unknown = set(raw) - _FIELDS
    if unknown:
        bad = sorted(unknown)[0]
        hint = difflib.get_close_matches(bad, sorted(_FIELDS), n=1)
        raise ValueError(
            f"{source}: unknown key {bad!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else f"; valid keys: {', '.join(sorted(_FIELDS))}")
        )
    vals = dict(raw)
    for key in ("layers", "datasets", "ood_datasets"):
        if key in vals and vals[key] is not None:
            vals[key] = tuple(vals[key])
    for key in ("sae", "p1", "p2", "p3"):
        if vals.get(key) is None:
            vals[key] = {}
    prof = Profile(**vals)
    if prof.main_layer not in prof.layers:
        raise ValueError(f"{source}: main_layer {prof.main_layer} is not in layers {list(prof.layers)}; add it")
    if prof.max_len < 2:
        raise ValueError(f"{source}: max_len must be >= 2 (got {prof.max_len})")
    return prof


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | os.PathLike = "cpu", **overrides: Any) -> Profile:
    """Read a profile by shipped name (``"cpu"``) or YAML path; ``overrides`` replace fields.

    Raises ``ValueError`` naming the close matches for an unknown profile name.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    text = str(name_or_path)
    path = Path(text)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PROFILE_DIR / f"{text}.yaml"
        if not path.exists():
            close = difflib.get_close_matches(text, list_profiles(), n=3)
            raise ValueError(
                f"unknown profile {text!r}: choose one of {list_profiles()}"
                + (f" (close: {close})" if close else "")
                + " or pass a path to a .yaml file"
            )
    raw = yaml.safe_load(path.read_text()) or {}
    raw.update(overrides)
    return _from_dict(raw, source=str(path))
