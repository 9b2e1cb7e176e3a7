"""Typed settings of a run: one frozen dataclass per profile section, every default in one place.

A profile (``saeprobe/profiles/<name>.yaml``) has core fields (:class:`saeprobe.core.config.Profile`)
and four sections, each parsed into a dataclass here:

* ``sae:`` :class:`SAESettings` (our own SAEs: corpus, training defaults, the SAEs to train),
* ``p1:``  :class:`P1Settings` (Kantamneni et al.: methods, grids, regime points),
* ``p2:``  :class:`P2Settings` (Paulo & Belrose: matching threshold, bootstrap, display),
* ``p3:``  :class:`P3Settings` (MOSAIC: pooling grid, classifier, cross-lingual sets).

:func:`parse` builds a dataclass from a (YAML) mapping recursively: an unknown key at any depth is
one line naming the section, the key and the close match (``p2.threshhold: unknown key (did you
mean 'threshold'?)``); a value of the wrong type is one line too. :func:`merge` merges an override
mapping into a section key by key (nested sections too) instead of replacing it.

Shapes: none here; sequences are stored as tuples so a settings object is immutable.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = ["ARCH_ALIASES", "LadderSettings", "CorpusSettings", "TrainSettings", "SAEEntry", "SAESettings", "OODSAESettings", "P1Settings",
           "P2Settings", "CrossModelSettings", "P3Settings", "parse", "merge", "as_dict", "SECTIONS"]

P1_METHODS = ("lr", "lr_z", "pca", "knn", "xgb", "mlp")
#: SAE architecture names accepted in ``sae.saes`` -> the canonical name sae-lens training uses.
ARCH_ALIASES = {
    "topk": "topk", "top_k": "topk",
    "standard": "standard", "relu": "standard", "relu_l1": "standard", "l1": "standard",
    "jumprelu": "jumprelu", "jump_relu": "jumprelu",
    "batchtopk": "batchtopk", "batch_topk": "batchtopk",
    "matryoshka": "matryoshka", "matryoshka_batchtopk": "matryoshka",
}
P3_POOLINGS = ("count", "sum", "max", "mean", "last")


# ----------------------------------------------------------------------------- sae:
@dataclass(frozen=True)
class CorpusSettings:
    """The SAE training corpus (``sae.corpus``): tokens of texts outside every evaluated dataset.

    ``max_len`` / ``batch_size`` None: ``min(128, profile.max_len)`` / ``profile.batch_size``.
    The CE-loss check splices the SAE into the first ``ce_texts`` held-out texts at ``ce_max_len``.
    """

    tokens: int = 100_000
    heldout_tokens: int = 8_192
    max_len: int | None = None
    batch_size: int | None = None
    ce_texts: int = 8
    ce_max_len: int = 64


@dataclass(frozen=True)
class TrainSettings:
    """Training defaults for every SAE of ``sae.saes`` (``sae.train``); an entry may override any."""

    tokens: int = 200_000  # training tokens seen (the cached corpus is cycled in epochs if smaller)
    batch_size: int = 1024
    lr: float = 1e-3
    lr_decay_frac: float = 0.2  # linear decay to 0 over the last fraction of steps
    warmup_steps: int = 10
    dead_window: int = 50  # steps without firing before a latent counts as dead (TopK aux loss)
    jumprelu_init_threshold: float = 0.05
    jumprelu_bandwidth: float = 0.05
    jumprelu_ste_to_input: bool = True  # let the L0 penalty reach the encoder; short runs need it
    l0_coefficient: float = 1.0
    l1_warmup_frac: float = 0.05
    aux_coefficient: float = 1.0  # (Batch)TopK's auxiliary loss on dead latents (sae-lens' AuxK)
    decoder_init_norm: float = 0.1  # norm of the decoder columns at initialisation (sae-lens default)
    data_seed: int | None = None  # order of training batches; None: the profile seed


@dataclass(frozen=True)
class SAEEntry:
    """One line of ``sae.saes``: an SAE trained once per seed and layer. Sparsity: ``k`` (topk,
    batchtopk, matryoshka), ``l1_coefficient`` (standard ReLU + L1) or ``target_l0`` (jumprelu);
    ``matryoshka_widths`` the nested prefixes of a Matryoshka SAE (default: width/16, /4, full).
    ``layers`` None: the main layer. Training fields left None come from ``sae.train``."""

    arch: str
    width: int
    k: int | None = None
    # int | float: a whole number stays an int, as written (it is part of the SAE's cache key)
    l1_coefficient: int | float | None = None
    target_l0: int | float | None = None
    matryoshka_widths: tuple[int, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    layers: tuple[int, ...] | None = None
    tokens: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_decay_frac: float | None = None
    warmup_steps: int | None = None
    dead_window: int | None = None
    jumprelu_init_threshold: float | None = None
    jumprelu_bandwidth: float | None = None
    jumprelu_ste_to_input: bool | None = None
    l0_coefficient: float | None = None
    l1_warmup_frac: float | None = None
    aux_coefficient: float | None = None
    decoder_init_norm: float | None = None
    data_seed: int | None = None

    def __post_init__(self):
        if str(self.arch).lower() not in ARCH_ALIASES:
            close = difflib.get_close_matches(str(self.arch).lower(), list(ARCH_ALIASES), n=1)
            raise SettingsError(f"arch {self.arch!r} is not an SAE architecture"
                                + (f" (did you mean {close[0]!r}?)" if close else
                                   f"; use one of {', '.join(sorted(set(ARCH_ALIASES.values())))}"))

    def training(self, defaults: TrainSettings) -> dict:
        """The training fields of this entry over ``defaults`` (a plain dict)."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainSettings)}
        return {k: (getattr(defaults, k) if v is None else v) for k, v in own.items()}


@dataclass(frozen=True)
class LadderSettings:
    """``sae.ladder``: the quality ladder -- the main SAE (``sae.saes[entry]`` at the main layer)
    retrained at several fractions of its token budget, ``seeds`` each, and every paper's verdict
    measured on each rung (notebook 21). ``extra_fractions`` (e.g. 4x the budget) run only with
    ``include_extra: true`` (they cost the most)."""

    fractions: tuple[float, ...] = (0.0625, 0.25, 1.0)
    extra_fractions: tuple[float, ...] = (4.0,)
    include_extra: bool = False
    seeds: tuple[int, ...] = (0, 1)
    entry: int = 0
    p1_ks: tuple[int, ...] = (16, 128)
    p3_datasets: tuple[str, ...] | None = None  # None: P3's binary datasets


@dataclass(frozen=True)
class SAESettings:
    """``sae:`` -- where the SAEs come from. ``source: local`` trains our own (offline); ``hub`` loads
    ``hub`` (``{layer or label: "release/sae_id"}``) with hub access."""

    source: Literal["local", "hub"] = "local"
    hub: dict[Any, str] = field(default_factory=dict)
    corpus: CorpusSettings = CorpusSettings()
    train: TrainSettings = TrainSettings()
    saes: tuple[SAEEntry, ...] = ()
    ladder: LadderSettings = LadderSettings()


# ----------------------------------------------------------------------------- p1:
@dataclass(frozen=True)
class OODSAESettings:
    """The SAE probe of P1's covariate-shift regime (P1: k = 128, L1, raw ranking)."""

    k: int = 128
    penalty: Literal["l1", "l2"] = "l1"
    ranking: Literal["raw", "normalized"] = "raw"


@dataclass(frozen=True)
class P1Settings:
    """``p1:`` -- Kantamneni et al. None for a regime grid means P1's whole grid."""

    methods: tuple[Literal["lr", "lr_z", "pca", "knn", "xgb", "mlp"], ...] = P1_METHODS  # standard regime
    regime_methods: tuple[Literal["lr", "lr_z", "pca", "knn", "xgb", "mlp"], ...] | None = None  # None: methods
    sae_ks_standard: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    sae_ks_other: tuple[int, ...] = (16, 128)
    sae_archs: tuple[str, ...] | None = None  # main-layer seed-0 SAEs used; None: every one
    sae_ranking: Literal["raw", "normalized"] = "normalized"
    sae_penalty: Literal["l1", "l2"] = "l1"
    sae_binarize: bool = False
    ood_sae: OODSAESettings = OODSAESettings()
    lr_scale: Literal["center", "standardize", "none"] = "center"
    xgb_draws: int = 10
    scarcity_sizes: tuple[int, ...] | None = None
    imbalance_fracs: tuple[float, ...] | None = None
    noise_fracs: tuple[float, ...] | None = None
    regime_sae_widths: tuple[int, ...] | None = None  # non-standard regimes: SAEs of these widths only
    min_test: int = 100  # P1 keeps >= 100 test rows (smaller only for tiny smoke subsets)
    n_jobs: int = 2
    cola_max_eval: int | None = None  # dataset debugging: relabelled CoLA sentences used (None: all 1,000)
    cola_max_train: int | None = None  # ... and CoLA training rows (None: every other row)
    # notebook 18, AI-vs-human artifact (2b) and spurious latents under covariate shift (2c)
    artifact_dataset: str = "110_aimade_humangpt3"  # the dataset whose probe is inspected (P1's)
    artifact_k: int = 16  # SAE probe k for the artifact (P1's other-regime k)
    artifact_n_latents: int = 4  # latents shown, those the probe relies on most (|coef| x std)
    debug_n_contexts: int = 4  # top-activating held-out corpus contexts shown per latent / direction
    debug_context_tokens: int = 12  # tokens of context before the top token
    artifact_top_tokens: int = 50  # top corpus tokens per latent / direction scored for punctuation
    artifact_min_count: int = 3  # a token's mean projection is listed once it occurs this often
    debug_n_boot: int = 2000  # bootstrap resamples of the paired AUC-drop CIs (over test rows / datasets)
    spurious_datasets: tuple[str, ...] | None = None  # None: the profile's ood_datasets
    spurious_k: int = 8  # latents of the SAE probe that is pruned (P1: 8)
    spurious_proxy: Literal["shift", "id_auc"] = "shift"  # automatic relevance ranking (no LLM offline)
    spurious_prune_to: int = 4  # the verdict compares OOD AUC with this many kept features vs all k
    spurious_random_orders: int = 5  # random pruning orders averaged as the chance reference
    spurious_n_contexts: int = 2  # held-out corpus contexts shown per chosen latent (8 latents x each parent)

    @property
    def regime_methods_or_default(self) -> tuple[str, ...]:
        return self.methods if self.regime_methods is None else self.regime_methods


# ----------------------------------------------------------------------------- p2:
@dataclass(frozen=True)
class P2Settings:
    """``p2:`` -- Paulo & Belrose seed stability."""

    threshold: float = 0.7  # cosine a matched latent must exceed to count as shared (P2)
    n_boot: int = 2000  # bootstrap resamples (CIs over seed pairs and paired AUC CIs)
    freq_bins: int = 8  # quantile bins of firing frequency
    n_examples: int = 4  # top-activating contexts shown per latent
    n_latents_shown: int = 3  # shared and orphan latents shown
    probe_k: tuple[int, ...] = (16,)  # k of the SAE top-k probe (notebook 31)
    probe_datasets: tuple[str, ...] | None = None  # None: the profile's datasets
    probe_archs: tuple[str, ...] | None = None  # None: every architecture with seed replicas
    hub_release: str | None = "gemma-scope-2-270m-pt-res"  # official seed pair (hub access only)
    hub_ids: tuple[str, ...] = ("layer_12_width_262k_l0_medium", "layer_12_width_262k_l0_medium_seed_1")
    hub_candidates: int = 32  # sparse matching neighbours per latent (262k is too wide for dense)


# ----------------------------------------------------------------------------- p3:
@dataclass(frozen=True)
class CrossModelSettings:
    """MOSAIC's cross-model transfer pair (needs the hub)."""

    model_a: str = "google/gemma-2-2b"
    model_b: str = "google/gemma-2-9b-it"


@dataclass(frozen=True)
class P3Settings:
    """``p3:`` -- MOSAIC. ``binary`` None: the profile's datasets; ``layers`` None: every profile layer;
    ``max_rows`` None: the profile's; ``widths`` None: every trained width; ``arch`` / ``main_width``
    None: those of the first SAE in ``sae:``; ``top_n`` 0 = every active latent; ``binarize`` None =
    raw pooled features, else ``X > threshold``."""

    binary: tuple[str, ...] | None = None
    multiclass: Union[Literal["all"], tuple[str, ...]] = "all"
    max_rows: int | None = None
    layers: tuple[int, ...] | None = None
    top_n: tuple[int, ...] = (0, 20, 50)
    poolings: tuple[Literal["count", "sum", "max", "mean", "last"], ...] = P3_POOLINGS
    top_n_poolings: tuple[Literal["count", "sum", "max", "mean", "last"], ...] = ("count", "sum")
    binarize: tuple[float | None, ...] = (None, 0.0, 1.0)
    widths: tuple[int, ...] | None = None
    arch: str | None = None
    main_width: int | None = None
    C_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
    hidden_C_grid: tuple[float, ...] | None = None  # the hidden-state baseline at full strength (None: off)
    max_iter: int = 500
    test_size: float = 0.2
    val_size: float = 0.2
    seed: int = 42
    n_boot: int = 2000
    crosslingual: tuple[str, ...] = ("66_living-room", "67_social-security", "73_control-group")
    ood_max_rows: int | None = None  # None: the whole OOD file; an int subsamples it (smoke)
    cross_model: CrossModelSettings = CrossModelSettings()


SECTIONS = {"sae": SAESettings, "p1": P1Settings, "p2": P2Settings, "p3": P3Settings}


# ----------------------------------------------------------------------------- parsing
class SettingsError(ValueError):
    """A profile value that cannot be used; the message is one line naming the key."""


def _hint(bad: str, valid) -> str:
    close = difflib.get_close_matches(bad, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(sorted(valid))}"


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(t) -> bool:
    return isinstance(t, type) and dataclasses.is_dataclass(t)


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """``value`` checked against the annotation ``typ`` (lists become tuples, ints may be floats)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for alt in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, alt, where)
            except SettingsError as err:
                errors.append(str(err))
        raise SettingsError(errors[-1] if errors else f"{where}: must be empty (null)")
    if origin is Literal:
        if value not in args:
            raise SettingsError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}"
                                + (_hint(str(value), [str(a) for a in args]).replace("; valid keys", "; valid")
                                   if isinstance(value, str) else ""))
        return value
    if _is_dataclass_type(typ):
        return parse(typ, value, where)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if typ is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where}: expected true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where}: expected an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where}: expected a string, got {value!r}")
        return value
    if typ is type(None):
        if value is not None:
            raise SettingsError(f"{where}: must be null")
        return None
    return value


def parse(cls, raw: Any, where: str):
    """An instance of dataclass ``cls`` from mapping ``raw`` (None: all defaults; an instance: as is).

    Raises :class:`SettingsError` (a ``ValueError``) with a one-line message naming ``where.key``.
    """
    if isinstance(raw, cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected a mapping of settings, got {raw!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise SettingsError(f"{where}.{key}: unknown key{_hint(str(key), fields)}")
    missing = [n for n, f in fields.items() if n not in raw and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SettingsError(f"{where}: {missing[0]!r} is required")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except SettingsError as err:
        raise SettingsError(f"{where}: {err}") from None


def as_dict(obj) -> Any:
    """Plain (YAML/JSON-safe) form of a settings object: dataclasses -> dicts, tuples -> lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj


def merge(base: Any, override: Any) -> Any:
    """``override`` merged into ``base`` key by key (mappings recursively; anything else replaces)."""
    if dataclasses.is_dataclass(override) and not isinstance(override, type):
        return override
    if dataclasses.is_dataclass(base) and not isinstance(base, type):
        base = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(out[k], v) if k in out and isinstance(v, dict) else v
        return out
    return override
