"""What an SAE of the profile is: :class:`SAESpec` (one SAE to train), expanded from the profile's
``sae.saes`` entries (:class:`saeprobe.core.settings.SAEEntry`) over their seeds and layers.

Training defaults come from ``sae.train`` (:class:`saeprobe.core.settings.TrainSettings`, where every
default lives); an entry may override any of them.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any

from saeprobe.core.settings import ARCH_ALIASES, TrainSettings

__all__ = ["ARCH_ALIASES", "SAESpec", "sae_specs", "select_specs", "arch_name", "entry_spec"]

_T = TrainSettings()
#: Fields added after the first release -> the value every SAE had before (left out of cache keys then).
_ADDED = {"matryoshka_widths": None, "aux_coefficient": 1.0, "decoder_init_norm": 0.1, "train_families": None,
          "topk_threshold_lr": 0.01}


def arch_name(name: str) -> str:
    """Canonical architecture name (``topk``, ``standard`` = ReLU + L1, ``jumprelu``) of an alias."""
    try:
        return ARCH_ALIASES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown SAE architecture {name!r}: use topk, standard (ReLU+L1) or jumprelu") from None


@dataclass(frozen=True)
class SAESpec:
    """One SAE to train. Sparsity: ``k`` (topk, batchtopk, matryoshka), ``l1_coefficient``
    (standard), ``target_l0`` (jumprelu). The training fields' defaults are
    :class:`~saeprobe.core.settings.TrainSettings`'."""

    arch: str
    width: int
    k: int | None = None
    l1_coefficient: float | None = None
    target_l0: float | None = None
    matryoshka_widths: tuple[int, ...] | None = None
    seed: int = 0
    tokens: int = _T.tokens
    layer: int | None = None  # None: the profile's main layer
    batch_size: int = _T.batch_size
    lr: float = _T.lr
    lr_decay_frac: float = _T.lr_decay_frac
    warmup_steps: int = _T.warmup_steps
    dead_window: int = _T.dead_window
    jumprelu_init_threshold: float = _T.jumprelu_init_threshold
    jumprelu_bandwidth: float = _T.jumprelu_bandwidth
    jumprelu_ste_to_input: bool = _T.jumprelu_ste_to_input
    l0_coefficient: float = _T.l0_coefficient
    l1_warmup_frac: float = _T.l1_warmup_frac
    aux_coefficient: float = _T.aux_coefficient
    decoder_init_norm: float = _T.decoder_init_norm
    data_seed: int | None = _T.data_seed
    topk_threshold_lr: float = _T.topk_threshold_lr
    #: train only on corpus texts of these P1 source families (None: the whole corpus); see
    #: :mod:`saeprobe.saes.families`
    train_families: tuple[str, ...] | None = None

    def __post_init__(self):
        a = arch_name(self.arch)
        object.__setattr__(self, "arch", a)
        if self.width < 1:
            raise ValueError(f"SAE width must be >= 1, got {self.width}")
        need = {"standard": "l1_coefficient", "jumprelu": "target_l0"}.get(a, "k")
        if getattr(self, need) is None:
            raise ValueError(f"a {a} SAE needs {need} (its sparsity setting)")
        if need == "k" and not (0 < self.k <= self.width):
            raise ValueError(f"{a} k must be in 1..width ({self.width}), got {self.k}")
        if a == "matryoshka":
            widths = self.matryoshka_widths or tuple(sorted({max(self.k, self.width // 16), max(self.k, self.width // 4),
                                                             self.width}))
            if list(widths) != sorted(set(widths)) or widths[-1] != self.width:
                raise ValueError(f"matryoshka_widths must increase and end at the width {self.width}, got {widths}")
            object.__setattr__(self, "matryoshka_widths", tuple(int(w) for w in widths))
        if self.train_families is not None:
            if not self.train_families:
                raise ValueError("train_families must name at least one source family (None: the whole corpus)")
            object.__setattr__(self, "train_families", tuple(sorted({str(f) for f in self.train_families})))

    @property
    def sparsity(self) -> str:
        if self.arch in ("topk", "batchtopk", "matryoshka"):
            return f"k{self.k}"
        if self.arch == "standard":
            return f"l1_{self.l1_coefficient:g}"
        return f"l0_{self.target_l0:g}"

    @property
    def name(self) -> str:
        lay = "" if self.layer is None else f"-L{self.layer}"
        fam = ""
        if self.train_families is not None:
            fam = "-F" + hashlib.sha256("|".join(self.train_families).encode()).hexdigest()[:6]
        return f"{self.arch}-w{self.width}-{self.sparsity}-s{self.seed}{lay}{fam}"

    def to_dict(self) -> dict:
        """Every field, except those added after the first release while they keep the value that
        release used (so the cache keys of SAEs trained before them stay valid)."""
        return {k: v for k, v in asdict(self).items() if not (k in _ADDED and _ADDED[k] == v)}


_SPEC_FIELDS = {f.name for f in fields(SAESpec)}


def sae_specs(profile: Any) -> list[SAESpec]:
    """Every SAE the profile trains, expanded over each entry's ``seeds`` and ``layers`` (the layer
    is always set; an entry without layers is at the main layer)."""
    sec = profile.sae
    out = []
    for i, entry in enumerate(sec.saes):
        base = {k: getattr(entry, k) for k in ("arch", "width", "k", "l1_coefficient", "target_l0", "matryoshka_widths")}
        train = entry.training(sec.train)
        for layer in entry.layers or (profile.main_layer,):
            if layer not in profile.layers:
                raise ValueError(f"profile {profile.name!r} sae.saes[{i}]: layer {layer} is not in layers {list(profile.layers)}")
            for s in entry.seeds:
                try:
                    out.append(SAESpec(**base, **train, seed=int(s), layer=int(layer)))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"profile {profile.name!r} sae.saes[{i}]: {exc}") from None
    return out


def select_specs(profile: Any, *, arch: str | None = None, width: int | None = None, seed: int | None = None,
                 layer: int | None = None, **sparsity: Any) -> list[SAESpec]:
    """The profile's specs matching the given fields (layer None: main layer)."""
    unknown = set(sparsity) - _SPEC_FIELDS
    if unknown:
        raise ValueError(f"select_specs: unknown SAESpec field(s) {sorted(unknown)}")
    layer = profile.main_layer if layer is None else layer
    res = []
    for s in sae_specs(profile):
        if arch is not None and s.arch != arch_name(arch):
            continue
        if width is not None and s.width != width:
            continue
        if seed is not None and s.seed != seed:
            continue
        if s.layer != layer:
            continue
        if any(getattr(s, k) != v for k, v in sparsity.items()):
            continue
        res.append(s)
    return res


def entry_spec(profile: Any, entry: Any, *, base: int = 0, seed: int = 0, layer: int | None = None,
               **overrides: Any) -> SAESpec:
    """The :class:`SAESpec` of an ``sae.saes``-style entry (:class:`~saeprobe.core.settings.SAEEntry`)
    that is not in ``sae.saes``: training fields the entry leaves None come from ``sae.saes[base]``
    (when the profile has one), then ``sae.train`` -- so it is trained on the main SAEs' corpus, budget
    and recipe, and an entry equal to one of ``sae.saes`` gives that same (cached) SAE. ``layer`` None:
    the main layer; ``overrides``: any other :class:`SAESpec` field (e.g. ``train_families``)."""
    sec = profile.sae
    defaults = sec.train
    if sec.saes:
        if not 0 <= base < len(sec.saes):
            raise ValueError(f"profile {profile.name!r}: base entry {base} is not in sae.saes (0..{len(sec.saes) - 1})")
        defaults = TrainSettings(**sec.saes[base].training(sec.train))
    sparsity = {k: getattr(entry, k) for k in ("arch", "width", "k", "l1_coefficient", "target_l0", "matryoshka_widths")}
    layer = profile.main_layer if layer is None else int(layer)
    if layer not in profile.layers:
        raise ValueError(f"profile {profile.name!r}: layer {layer} is not in layers {list(profile.layers)}")
    return SAESpec(**sparsity, **{**entry.training(defaults), **overrides}, seed=int(seed), layer=layer)
