"""Typed settings of a run: one frozen dataclass per profile section, every default in one place.

A profile (``saeprobe/profiles/<name>.yaml``) has core fields (:class:`saeprobe.core.config.Profile`)
and five sections, each parsed into a dataclass here:

* ``sae:`` :class:`SAESettings` (our own SAEs: corpus, training defaults, the SAEs to train),
* ``p1:``  :class:`P1Settings` (Kantamneni et al.: methods, grids, regime points),
* ``p2:``  :class:`P2Settings` (Paulo & Belrose: matching threshold, bootstrap, display),
* ``p3:``  :class:`P3Settings` (MOSAIC: pooling grid, classifier, cross-lingual sets),
* ``scale:`` :class:`ScaleSettings` (where grids run -- joblib or Dask -- and where results go).

:func:`parse` builds a dataclass from a (YAML) mapping recursively: an unknown key at any depth is
one line naming the section, the key and the close match (``p2.threshhold: unknown key (did you
mean 'threshold'?)``); a value of the wrong type is one line too. :func:`merge` merges an override
mapping into a section key by key (nested sections too) instead of replacing it.

Shapes: none here; sequences are stored as tuples so a settings object is immutable.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from saeprobe.core.typed import SettingsError, as_dict, merge, parse

__all__ = ["ARCH_ALIASES", "LadderSettings", "CorpusSettings", "TrainSettings", "SAEEntry", "SAESettings", "OODSAESettings",
           "MultiTokenSettings", "ArchitectureSettings", "P1Settings", "P2AxesSettings", "P2ModelSettings", "P2Settings",
           "CrossModelSettings", "VisualSettings", "P3Settings", "ScaleSettings", "SettingsError", "parse", "merge", "as_dict", "SECTIONS"]

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
    # (Matryoshka) BatchTopK: step of the running inference threshold (sae-lens default 0.01 needs
    # ~500 steps to settle; short runs need more or inference L0 overshoots k)
    topk_threshold_lr: float = 0.01


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
    topk_threshold_lr: float | None = None

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
class MultiTokenSettings:
    """``p1.multi_token`` -- P1's multi-token probes (notebook 17, ``saeprobe.p1.multitoken``).
    Defaults are P1's (``run_multi_token_acts.py``); ``datasets`` None: the profile's datasets;
    ``max_len`` None: the profile's context (P1: 256 tokens incl. BOS); ``sae_widths`` /
    ``sae_archs`` None: every main-layer SAE P1's pages use (``p1.sae_archs``); ``device`` None: the profile's device (CPU when that is None)."""

    datasets: tuple[str, ...] | None = None
    max_len: int | None = None
    steps: int = 1000  # full-batch Adam steps of the attention probe
    lr: float = 1e-4
    val_frac: float = 0.2  # share of the training rows that picks the best step (by validation AUC)
    init_scale: float = 1e-3  # q, v ~ randn * init_scale
    mask_value: float = -10000.0  # score of padded positions before the softmax
    sae_k: int = 128  # top-k latents of the pooled SAE probes
    sae_ranking: Literal["raw", "normalized"] = "raw"  # P1's multi-token code: raw class-mean difference
    binarize_threshold: float = 1.0  # binarised pooled codes: X > 1
    sae_widths: tuple[int, ...] | None = None
    sae_archs: tuple[str, ...] | None = None  # None: p1.sae_archs
    pca_components: int = 20  # per token position, concat-PCA baseline
    win_margin: float = 0.005  # P1's margin for a win
    token_dtype: Literal["float32", "float16", "bfloat16"] = "float32"  # per-token cache on disk
    shard_mb: float = 64.0  # per-token cache shard size (what one read holds in memory)
    keep_tokens: bool = True  # false: a dataset's token cache is deleted once its results are stored
    device: str | None = None
    n_boot: int = 2000  # bootstrap resamples of the CIs over datasets


@dataclass(frozen=True)
class ArchitectureSettings:
    """``p1.architectures``: P1's SAE-architecture comparison (notebook 19). One SAE per entry of
    ``saes`` (seed 0, main layer; ``seeds`` / ``layers`` of an entry are ignored), each probed with
    P1's SAE probe at ``ks`` in the standard regime and scored by its win rate against the strong
    baseline quiver: a win is a test AUC above the quiver's by more than ``margin`` (P1: 0.005), a
    loss one below it by more. Training fields an entry leaves None come from ``sae.saes[entry]``,
    then ``sae.train`` (the main SAEs' corpus, budget and recipe), so an entry equal to one of
    ``sae.saes`` is that same cached SAE."""

    saes: tuple[SAEEntry, ...] = ()
    entry: int = 0
    ks: tuple[int, ...] = (16, 128)
    margin: float = 0.005


@dataclass(frozen=True)
class P1Settings:
    """``p1:`` -- Kantamneni et al. None for a regime grid means P1's whole grid."""

    methods: tuple[Literal["lr", "lr_z", "pca", "knn", "xgb", "mlp"], ...] = P1_METHODS  # standard regime
    regime_methods: tuple[Literal["lr", "lr_z", "pca", "knn", "xgb", "mlp"], ...] | None = None  # None: methods
    sae_ks_standard: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    sae_ks_other: tuple[int, ...] = (16, 128)
    sae_archs: tuple[str, ...] | None = None  # main-layer seed-0 SAEs used; None: every one
    sae_k: int | None = None  # ... of this TopK-family k only (P1's SAEs are dense); None: any sparsity
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
    multi_token: MultiTokenSettings = MultiTokenSettings()  # notebook 17
    architectures: ArchitectureSettings = ArchitectureSettings()  # notebook 19 (none: the page says so)
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
class P2AxesSettings:
    """``p2.axes``: P2's other axes on page 30 -- one SAE (``sae``, an ``sae.saes``-style entry; its
    training fields left None come from ``sae.saes[entry]``, then ``sae.train``) trained with each of
    ``seeds`` at each of ``layers`` (None: every profile layer) and, at the main layer, on each of two
    corpora drawn from disjoint P1 source families of the SAE corpus (``families_a``: the families of
    corpus A, the rest go to B; None: a balanced split by text count, see
    :func:`saeprobe.saes.families.family_split`). ``sae`` None: the axes are not measured."""

    sae: SAEEntry | None = None
    entry: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)
    layers: tuple[int, ...] | None = None
    corpora: bool = True
    families_a: tuple[str, ...] | None = None


@dataclass(frozen=True)
class P2ModelSettings:
    """One of P2's own models for page 30 (hub access only): a TransformerLens model name, the hook
    whose activations the seed pair is trained on, and a note on where the choice comes from."""

    model: str
    hook: str
    note: str = ""


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
    axes: P2AxesSettings = P2AxesSettings()  # page 30: seed pairs per layer and per training corpus
    models: tuple[P2ModelSettings, ...] = ()  # page 30: P2's own models (TransformerLens names; hub only)
    model_tokens: int = 100_000  # training tokens of each hub model's seed pair (activations of the SAE corpus texts)
    hub_model: str | None = None  # model of the official seed twins in hub_twins (None: the profile's)
    hub_twins: tuple[str, ...] = ()  # more official "release/sae_id" SAEs with a "<id>_seed_1" twin (plan)


# ----------------------------------------------------------------------------- p3:
@dataclass(frozen=True)
class CrossModelSettings:
    """MOSAIC's cross-model transfer pair (needs the hub)."""

    model_a: str = "google/gemma-2-2b"
    model_b: str = "google/gemma-2-9b-it"


@dataclass(frozen=True)
class VisualSettings:
    """MOSAIC's image classification with a *text*-trained SAE (notebook 45; needs the hub): the VLM's
    image-token hidden states at block ``layer`` are encoded with an SAE of its language model, pooled
    over the image tokens (``p3.features.pool_text``), optionally binarized, and classified (``p3``'s
    split, C grid and macro F1). ``hidden_states_index`` None: ``layer + 1``, the output of block
    ``layer`` (what ``blocks.{layer}.hook_resid_post`` reads); MOSAIC's code takes ``hidden_states[layer]``
    (the output of block ``layer - 1``). ``token_slice`` ``[start, stop]``: MOSAIC's image-token
    positions, checked against the processor's image-token mask; None: the mask's positions.
    ``max_images`` None: the whole split, else a class-proportional subsample (``p3.seed``)."""

    model: str = "Intel/llava-gemma-2b"
    sae: str = "gemma-2b-res-jb/blocks.12.hook_resid_post"   # sae-lens release/sae_id
    layer: int = 12
    hidden_states_index: int | None = None
    token_slice: tuple[int, ...] | None = (4, 580)
    dataset: str = "renumics/cifar100-enriched"
    split: str = "test"
    image_field: str = "full_image"
    label_field: str = "fine_label_str"
    max_images: int | None = None
    batch_size: int = 8
    dtype: str | None = None        # None: bfloat16 on a GPU, float32 on CPU
    poolings: tuple[Literal["count", "sum", "max", "mean", "last"], ...] = ("count", "sum", "mean", "max")
    top_n: tuple[int, ...] = (0, 20, 50)             # MOSAIC's classification_params.top_n_values
    top_n_poolings: tuple[Literal["count", "sum", "max", "mean", "last"], ...] = ("count",)
    binarize: tuple[float | None, ...] = (None, 1.0)  # MOSAIC's classification_params.binarize_values


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
    sae_k: int | None = None  # only SAEs of this TopK-family k (MOSAIC's canonical L0); None: any
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
    visual: VisualSettings = VisualSettings()
    # MOSAIC's Gemma Scope SAEs with hub access: {model: ["release/sae_id", ...]} (listed and
    # validated by `python -m saeprobe.book plan`)
    hub_saes: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- scale:
@dataclass(frozen=True)
class ScaleSettings:
    """``scale:`` -- where the grids run and where their results go; the numbers never depend on it
    (``saeprobe.core.scale``). ``scheduler`` None: joblib/loky on this machine; ``"local:N"``: a Dask
    LocalCluster of N worker processes; ``"tcp://host:8786"``: a running Dask scheduler. The
    environment variable ``SAEPROBE_SCHEDULER`` (set by ``python -m saeprobe.book run --scheduler``)
    overrides it. ``results_root`` None: ``<home>/results``; else a folder or any fsspec URL
    (``s3://bucket/saeprobe``) every worker can reach. Extraction tasks ask for one unit of the Dask
    worker resource ``gpu_resource`` when some worker offers it (``dask worker ... --resources GPU=1``)."""

    scheduler: str | None = None
    results_root: str | None = None
    gpu_resource: str = "GPU"


SECTIONS = {"sae": SAESettings, "p1": P1Settings, "p2": P2Settings, "p3": P3Settings, "scale": ScaleSettings}
