"""Train SAEs offline with sae-lens (TopK, standard ReLU + L1, JumpReLU) on cached token activations.

Training uses sae-lens's own ``*TrainingSAE`` classes and ``SAETrainer`` (driven step by step
through its public ``step`` seam so we can record training curves and show one progress bar).
Two things make short CPU runs work (RECIPES): inputs are **pre-scaled** so the *centred*
activations have mean squared norm ``d_in`` (the residual stream carries a huge constant offset),
and the **decoder bias starts at the data mean**. The scale is folded into the weights at the end
(sae-lens ``fold_activation_norm_scaling_factor``), so the saved SAE takes raw activations.

Determinism: the seed fixes the weight initialisation; the order of training batches is fixed by
``data_seed`` (default: the profile seed) and is the same for every seed, as in P2's seed study.

Profile ``sae:`` section (see ``saeprobe/profiles/*.yaml``)::

    sae:
      source: local | hub
      hub: {<layer>: "release/sae_id"}      # used when source is hub (or online)
      corpus: {tokens, heldout_tokens, max_len, batch_size, ce_texts}
      train:  {batch_size, lr, epochs...}   # defaults for every SAE below
      saes:   [{arch, width, k | l1_coefficient | target_l0, seeds: [...], layers: [...], tokens}]
"""
from __future__ import annotations

import difflib
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from saeprobe.core.cache import key_for
from saeprobe.core.config import no_bar
from saeprobe.core.models import default_device, expected_identity, load_profile_model, model_identity
from saeprobe.saes.corpus import corpus_key, token_corpus
from saeprobe.saes.families import family_rows
from saeprobe.saes.load import SAEUnavailableOffline, load_sae, save_sae, validate_folder
from saeprobe.saes.metrics import sae_quality
from saeprobe.saes.specs import SAESpec, sae_specs, select_specs

log = logging.getLogger("saeprobe.saes")

TRAIN_VERSION = "1"


# ----------------------------------------------------------------------------- training
def _batches(acts: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless epochs over ``acts`` rows in a seeded random order (same order for every SAE seed)."""
    g = torch.Generator().manual_seed(int(seed))
    n = acts.shape[0]
    while True:
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - batch_size + 1, batch_size):
            yield acts[perm[i : i + batch_size]]


def _make_training_sae(spec: SAESpec, d_in: int, hook: str, model_name: str):
    from sae_lens import (
        BatchTopKTrainingSAE,
        BatchTopKTrainingSAEConfig,
        JumpReLUTrainingSAE,
        JumpReLUTrainingSAEConfig,
        MatryoshkaBatchTopKTrainingSAE,
        MatryoshkaBatchTopKTrainingSAEConfig,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(model_name=model_name, hook_name=hook, prepend_bos=True)
    common = dict(d_in=d_in, d_sae=spec.width, dtype="float32", device="cpu", normalize_activations="none",
                  metadata=meta, decoder_init_norm=float(spec.decoder_init_norm))
    steps = max(1, spec.tokens // spec.batch_size)
    topk = dict(k=int(spec.k), aux_loss_coefficient=float(spec.aux_coefficient)) if spec.k is not None else {}
    if spec.arch == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(**topk, **common))
    if spec.arch == "batchtopk":
        return BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(
            topk_threshold_lr=float(spec.topk_threshold_lr), **topk, **common))
    if spec.arch == "matryoshka":
        return MatryoshkaBatchTopKTrainingSAE(MatryoshkaBatchTopKTrainingSAEConfig(
            matryoshka_widths=list(spec.matryoshka_widths), topk_threshold_lr=float(spec.topk_threshold_lr),
            **topk, **common))
    if spec.arch == "standard":
        return StandardTrainingSAE(StandardTrainingSAEConfig(
            l1_coefficient=float(spec.l1_coefficient), l1_warm_up_steps=int(spec.l1_warmup_frac * steps), **common))
    return JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(
        jumprelu_sparsity_loss_mode="quadratic", target_l0=float(spec.target_l0), l0_coefficient=spec.l0_coefficient,
        jumprelu_init_threshold=spec.jumprelu_init_threshold, jumprelu_bandwidth=spec.jumprelu_bandwidth,
        jumprelu_ste_to_input=spec.jumprelu_ste_to_input, **common))


def _inference_copy(sae: Any, scale: float) -> Any:
    """The sae-lens inference SAE (raw-activation input) of a training SAE, leaving it untouched."""
    import copy
    import tempfile

    from sae_lens import SAE

    c = copy.deepcopy(sae)
    c.fold_activation_norm_scaling_factor(scale)
    with tempfile.TemporaryDirectory() as tmp:
        c.save_inference_model(tmp)
        inf = SAE.load_from_disk(tmp)
    inf.eval()
    return inf


def train_sae(
    spec: SAESpec,
    acts: torch.Tensor,
    *,
    hook: str = "unknown",
    model_name: str = "unknown",
    data_seed: int = 42,
    progress: bool = True,
    log_every: int = 1,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, Any, float], None] | None = None,
) -> tuple[Any, dict]:
    """Train one SAE on token activations ``acts [N, d_in]`` (float32, raw residual stream).

    Returns ``(sae, history)``: the sae-lens *inference* SAE (``TopKSAE`` / ``StandardSAE`` /
    ``JumpReLUSAE``, taking raw activations) and ``history`` = ``{"step", "tokens", "loss",
    "mse", "fve", "l0", "seconds"}`` lists plus ``"scale"`` (the folded input scale) and
    ``"train_seconds"``. Same ``spec`` + same ``acts`` + same ``data_seed`` -> identical weights.
    ``on_checkpoint(tokens_seen, inference_sae, train_seconds)`` is called once training has seen
    each of ``checkpoints`` tokens (for training curves; its time is not counted).
    """
    from sae_lens import SAE
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    acts = acts.float()
    if acts.ndim != 2 or acts.shape[0] < spec.batch_size:
        raise ValueError(f"need at least one batch ({spec.batch_size}) of [N, d_in] activations, got {tuple(acts.shape)}")
    d_in = acts.shape[1]
    mu = acts.mean(0)
    s = math.sqrt(d_in / float(((acts - mu) ** 2).sum(1).mean()))
    torch.manual_seed(int(spec.seed))
    sae = _make_training_sae(spec, d_in, hook, model_name)
    with torch.no_grad():
        sae.b_dec.data.copy_(mu * s)
    steps = max(1, spec.tokens // spec.batch_size)
    tcfg = SAETrainerConfig(
        total_training_samples=steps * spec.batch_size, train_batch_size_samples=spec.batch_size,
        lr=spec.lr, lr_end=spec.lr, lr_scheduler_name="constant", lr_warm_up_steps=min(spec.warmup_steps, steps // 2),
        lr_decay_steps=int(spec.lr_decay_frac * steps), device="cpu", dead_feature_window=spec.dead_window,
        feature_sampling_window=10**9, logger=LoggingConfig(log_to_wandb=False), n_batches_for_norm_estimate=1,
    )
    data = _batches(acts, spec.batch_size, data_seed)
    trainer = SAETrainer(tcfg, sae, data)
    trainer.activation_scaler.scaling_factor = s
    hist: dict[str, list] = {k: [] for k in ("step", "tokens", "loss", "mse", "fve", "l0", "seconds")}
    t0 = time.perf_counter()
    paused = 0.0  # checkpoint evaluation time, not training
    marks = sorted({int(c) for c in checkpoints if 0 < int(c) <= steps * spec.batch_size})
    bar = tqdm(range(steps), desc=f"train {spec.name}", disable=no_bar(progress), leave=False)
    for step in bar:
        out = trainer.step(next(data))
        trainer.n_training_steps += 1
        seen = (step + 1) * spec.batch_size
        while marks and seen >= marks[0] and on_checkpoint is not None:
            marks.pop(0)
            t_pause = time.perf_counter()
            on_checkpoint(seen, _inference_copy(sae, s), t_pause - t0 - paused)
            paused += time.perf_counter() - t_pause
        if step % log_every == 0 or step == steps - 1:
            with torch.no_grad():
                x = out.sae_in
                var = ((x - x.mean(0)) ** 2).sum()
                fve = 1.0 - float(((out.sae_out - x) ** 2).sum() / var)
                l0 = float((out.feature_acts != 0).float().sum(-1).mean())
            hist["step"].append(step)
            hist["tokens"].append((step + 1) * spec.batch_size)
            hist["loss"].append(float(out.loss.detach()))
            hist["mse"].append(float(out.losses["mse_loss"].detach()))
            hist["fve"].append(fve)
            hist["l0"].append(l0)
            hist["seconds"].append(time.perf_counter() - t0 - paused)
            bar.set_postfix(fve=f"{fve:.3f}", l0=f"{l0:.0f}")
    sae.fold_activation_norm_scaling_factor(s)
    trainer.activation_scaler.scaling_factor = None
    trainer.set_final_sae_metadata()
    hist["scale"] = s
    hist["train_seconds"] = time.perf_counter() - t0 - paused
    # round-trip through sae-lens's inference classes (what load_sae returns)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sae.save_inference_model(tmp)
        inf = SAE.load_from_disk(tmp)
    inf.eval()
    return inf, hist


# ----------------------------------------------------------------------------- cache
def _spec_key(profile: Any, spec: SAESpec, corpus_key: str, hook: str) -> str:
    return key_for({"version": TRAIN_VERSION, "spec": spec.to_dict(), "corpus": corpus_key, "hook": hook,
                    "data_seed": spec.data_seed if spec.data_seed is not None else profile.seed})


def sae_dir(profile: Any) -> Path:
    return profile.home_dir / "saes" / "trained"


def _trained_entry(profile: Any, spec: SAESpec, identity: str, hook: str) -> tuple[str, str, Path]:
    """(cache key, corpus key, folder) of the trained SAE ``spec`` for the model ``identity``."""

    ckey = corpus_key(profile, identity)[0]
    key = _spec_key(profile, spec, ckey, hook)
    return key, ckey, sae_dir(profile) / f"{spec.name}-{key[:12]}"


def get_sae(
    profile: Any,
    spec: SAESpec | str | None = None,
    *,
    model: Any = None,
    progress: bool = True,
    metrics: bool = True,
    retrain: bool = False,
    **select: Any,
) -> Any:
    """The profile's SAE for ``spec`` -- an :class:`SAESpec`, a name from ``sae_specs(profile)`` such as
    ``"topk-w4096-k32-s0-L12"``, or None for the first spec matching ``select`` (``arch="topk", seed=1``).

    Loads it from the cache under ``profile.home_dir/saes/trained`` when a valid copy exists (without
    loading the model when ``model`` is None and its identity is known offline), otherwise trains it (on the cached corpus), measures its quality metrics and saves it.
    Returns the sae-lens SAE with ``sae.saeprobe_manifest`` (spec, seed, tokens seen, metrics,
    training history).
    """

    if isinstance(spec, str):  # by name, e.g. "topk-w4096-k32-s0-L12" (see sae_specs(profile))
        by_name = {s.name: s for s in sae_specs(profile)}
        if spec not in by_name:
            close = difflib.get_close_matches(spec, list(by_name), n=3)
            raise ValueError(f"profile {profile.name!r} has no SAE named {spec!r}"
                             + (f"; did you mean {', '.join(close)}?" if close else f"; its SAEs: {sorted(by_name)}"))
        spec = by_name[spec]
    if spec is None:
        cands = select_specs(profile, **select)
        if not cands:
            raise ValueError(f"profile {profile.name!r} has no SAE matching {select}; its SAEs: "
                             f"{[s.name for s in sae_specs(profile)]}")
        spec = cands[0]
    layer = profile.main_layer if spec.layer is None else spec.layer
    spec = replace(spec, layer=layer)
    hook = profile.hook_name(layer)
    # the cache is keyed by the model's identity, known offline without loading the model
    identity = model_identity(model) if model is not None else expected_identity(profile.model)
    if identity is not None and not retrain:
        key, _, folder = _trained_entry(profile, spec, identity, hook)
        if validate_folder(folder, {"key": key}) is not None:
            device = None if model is not None else (profile.device or default_device())
            return load_sae(folder, model, hook=hook, device=device)
    model = model if model is not None else load_profile_model(profile)
    key, ckey, folder = _trained_entry(profile, spec, model_identity(model), hook)
    corpus = token_corpus(profile, [hook], model, progress=progress)[hook]
    data_seed = spec.data_seed if spec.data_seed is not None else profile.seed
    train_acts = corpus.train if spec.train_families is None else corpus.acts[family_rows(profile, corpus, spec.train_families)]
    sae, hist = train_sae(spec, train_acts, hook=hook, model_name=profile.model, data_seed=data_seed, progress=progress)
    man = {
        "key": key, "name": spec.name, "spec": spec.to_dict(), "seed": spec.seed, "hook": hook, "layer": layer,
        "profile": profile.name, "model": model_identity(model), "corpus_key": ckey,
        "corpus": {k: corpus.meta.get(k) for k in ("n_tokens", "n_heldout_tokens", "n_datasets", "n_texts_available",
                                                   "n_dropped_overlap", "max_len", "tokens")},
        "corpus_datasets": corpus.meta.get("datasets"),
        "tokens_seen": int(hist["tokens"][-1]), "unique_train_tokens": int(train_acts.shape[0]),
        "train_seconds": hist["train_seconds"], "input_scale": hist["scale"],
        "history": {k: v for k, v in hist.items() if isinstance(v, list)},
    }
    if metrics:  # reconstruction on the held-out tokens; CE loss recovered with CIs: saes.quality_table
        man["metrics"] = sae_quality(sae, corpus)
        if progress and not no_bar(progress):
            m = man["metrics"]
            print(f"trained {spec.name} on {man['tokens_seen']:,} tokens in {hist['train_seconds']:.0f} s: held-out FVE "
                  f"{m['fve']:.3f}, L0 {m['l0']:.1f}, dead {m['dead_frac']:.1%} (CE loss recovered: "
                  "saeprobe.saes.quality_table); cached for next time", flush=True)
    save_sae(sae, folder, man)
    return load_sae(folder, model, hook=hook)


def profile_saes(profile: Any, *, model: Any = None, progress: bool = True, **kw: Any) -> dict[str, Any]:
    """Every SAE of the profile (trained or loaded from cache) -> ``{spec.name: sae}``.

    The token corpus for all needed hooks is computed in one forward pass first.
    """

    if profile.sae.source == "hub":
        raise SAEUnavailableOffline(
            f"profile {profile.name!r} uses hub SAEs ({profile.sae.hub}); load them with saeprobe.saes.load_sae")
    specs = sae_specs(profile)
    model = model if model is not None else load_profile_model(profile)
    hooks = sorted({profile.hook_name(s.layer) for s in specs})
    token_corpus(profile, hooks, model, progress=progress)
    out = {}
    for s in tqdm(specs, desc="SAEs", disable=no_bar(progress)):
        out[s.name] = get_sae(profile, s, model=model, progress=progress, **kw)
    return out
