"""Residual-stream activations of a TransformerLens model: reduced per text, per token, and cached.

One forward pass serves several hooks and several reducers. Texts are tokenized once, sorted by
token count and grouped under a padded-token budget (so batches carry little padding and the
few long texts do not drag 31 short neighbours to their length), left-truncated to ``max_len``
tokens keeping BOS and the last tokens, right-padded (causal attention: real tokens never see the
padding), and run with ``stop_at_layer`` so blocks after the deepest requested hook are never computed.

Reducers map a batch ``acts [B, T, d]`` plus ``mask [B, T]`` (True on real, non-BOS tokens) and
``last [B]`` (index of the last real token) to ``[B, ...]``:

* ``"last"`` — the last real token (P1's probe input);
* ``"mean"`` / ``"max"`` — pooled over real non-BOS tokens (BOS norms are ~10x the rest);
* any callable with that signature (e.g. SAE pooling for MOSAIC) — see :data:`REDUCERS`.

Truncation note: P1's package truncates from the left without keeping BOS; we keep BOS (Gemma's
attention sink) plus the last ``max_len - 1`` tokens. For texts that fit, both are identical.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from saeprobe import __version__
from saeprobe.core import data, models, scale
from saeprobe.core.cache import atomic_save, digest_texts, key_for, load_checked
from saeprobe.core.config import no_bar

log = logging.getLogger("saeprobe.activations")

#: Bump when a change to this module changes the numbers it produces (part of every cache key).
EXTRACTOR_VERSION = "1"

Reducer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _last(acts, mask, last):
    return acts[torch.arange(acts.shape[0], device=acts.device), last]


def _mean(acts, mask, last):
    m = mask.unsqueeze(-1).to(acts.dtype)
    return (acts * m).sum(1) / m.sum(1).clamp_min(1)


def _max(acts, mask, last):
    return acts.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


#: Named reducers; add an entry (or pass a callable) for a new pooled form.
REDUCERS: dict[str, Reducer] = {"last": _last, "mean": _mean, "max": _max}
DEFAULT_REDUCERS = ("last", "mean", "max")

_HOOK_LAYER = re.compile(r"^blocks\.(\d+)\.")


# ----------------------------------------------------------------------------- tokenization
def hook_layer(model, hook: str) -> int:
    """Block index a hook lives in (``-1`` for embedding hooks); validates the hook name.

    Raises ``ValueError`` naming the valid range for an unknown hook or an out-of-range layer.
    """
    if hook in model.hook_dict:
        m = _HOOK_LAYER.match(hook)
        return int(m.group(1)) if m else -1
    n = model.cfg.n_layers
    m = _HOOK_LAYER.match(hook)
    if m and int(m.group(1)) >= n:
        raise ValueError(f"layer {m.group(1)} is out of range for {model.cfg.model_name} "
                         f"({n} layers: use 0..{n - 1})")
    raise ValueError(f"unknown hook {hook!r} for {model.cfg.model_name}: use e.g. "
                     f"'blocks.{n // 2}.hook_resid_post' (see model.hook_dict for all names)")


def _check_texts(texts) -> None:
    """One-line ValueError for one string, an empty list, a non-string or an empty text."""
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings, not one string: wrap it as [text]")
    if len(texts) == 0:
        raise ValueError("no texts given: pass a non-empty list of strings")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"text {i} is {type(t).__name__}, not str: convert or drop it")
        if not t.strip():
            raise ValueError(f"text {i} is empty: drop it or give it content before extracting")


def tokenize(model, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """Token ids per text, BOS first, left-truncated to ``max_len`` keeping BOS and the last tokens.

    Raises ``ValueError`` for an empty list, a non-string or an empty/whitespace-only text.
    """
    _check_texts(texts)
    if max_len < 2:
        raise ValueError(f"max_len must be >= 2 (BOS + one token), got {max_len}")
    tok = model.tokenizer
    bos = tok.bos_token_id
    ids = tok(list(texts), add_special_tokens=True)["input_ids"]
    out = []
    for row in ids:
        if bos is not None and (not row or row[0] != bos):
            row = [bos] + row
        if len(row) > max_len:
            row = ([row[0]] + row[-(max_len - 1):]) if bos is not None else row[-max_len:]
        out.append(row)
    return out


#: Cap on padded tokens (rows x longest row) per forward batch on CPU; see :func:`run_batches`.
#: Measured on 2 cores with Gemma 3 270M, 500 mixed texts (20.8k tokens, a few at 1,024): 8192 ->
#: 47 s, 4096 -> 40 s, 2048 -> 31 s, 1536 -> 29 s, 1024 -> 31 s, 512 -> 33 s; rows only (32) -> 92 s.
#: TransformerLens materialises [rows, heads, T, T] attention scores, and on CPU several of those
#: at T = 1,024 cost more in memory traffic than small batches cost in matmul efficiency. A cap on
#: rows x T^2 instead (2**21: 2 rows at 1,024 but 32 at 256) was slower on the same texts (40 s), and
#: at max_len 128 (600 texts, 10.9k tokens) 2048 vs no cap was within run-to-run noise (13-18 s both).
CPU_MAX_PADDED_TOKENS = 2048


def _default_budget(device) -> int | None:
    """Padded-token cap for ``device``: :data:`CPU_MAX_PADDED_TOKENS` on CPU, none on accelerators
    (there ``batch_size`` alone sets the batch; pass ``max_padded_tokens`` to cap memory)."""
    return CPU_MAX_PADDED_TOKENS if torch.device(device).type == "cpu" else None


def _batches(lengths: list[int], batch_size: int, max_padded_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first).

    A batch holds at most ``batch_size`` rows and at most ``max_padded_tokens`` padded tokens
    (rows x its longest row; a single row longer than the budget still forms a batch of one).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out, i = [], 0
    while i < len(order):
        rows = batch_size
        if max_padded_tokens:
            rows = max(1, min(batch_size, max_padded_tokens // max(1, lengths[order[i]])))
        out.append(order[i:i + rows])
        i += rows
    return out


def run_batches(model, token_ids: Sequence[Sequence[int]], hooks: Sequence[str], batch_size: int = 32,
                desc: str = "activations", progress: bool = True,
                max_padded_tokens: int | None | str = "auto"):
    """The one-pass, multi-hook batch loop behind every extractor (public for pooling code).

    ``token_ids`` come from :func:`tokenize`. Texts are grouped into length-sorted batches of up to
    ``batch_size`` rows and ``max_padded_tokens`` padded tokens (so the few long texts of a dataset
    run in small batches instead of padding 31 shorter neighbours to their length; None = rows only)
    and run once through the model up to the deepest hook (``stop_at_layer``, inference
    mode). ``max_padded_tokens="auto"``: :data:`CPU_MAX_PADDED_TOKENS` on CPU, no cap on a GPU.
    Results do not depend on the grouping (padding is on the right, attention is causal).
    Yields per batch ``(indices [B], {hook: acts FloatTensor [B, T, d_model]}, mask [B, T],
    last [B], ids LongTensor [B, T])``: ``indices`` are positions in ``token_ids``; ``mask`` is True on
    real non-BOS tokens (padding and BOS False); ``last`` is each row's last real position.
    """
    layers = [hook_layer(model, h) for h in hooks]
    stop = max(layers) + 1
    has_bos = model.tokenizer.bos_token_id is not None
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    lengths = [len(r) for r in token_ids]
    device = next(model.parameters()).device
    if max_padded_tokens == "auto":
        max_padded_tokens = _default_budget(device)
    elif max_padded_tokens is not None and (isinstance(max_padded_tokens, (str, bool))
                                            or int(max_padded_tokens) != max_padded_tokens
                                            or max_padded_tokens < 1):
        raise ValueError(f"max_padded_tokens={max_padded_tokens!r}: use a positive int, None (rows only) "
                         "or 'auto' (a CPU default, no cap on GPU)")
    bar = tqdm(total=sum(lengths), desc=desc, unit="tok", disable=no_bar(progress), leave=False)
    try:
        for idx in _batches(lengths, batch_size, max_padded_tokens):
            T = max(lengths[i] for i in idx)
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :lengths[i]] = torch.tensor(token_ids[i])
            lens = torch.tensor([lengths[i] for i in idx])
            pos = torch.arange(T)
            mask = pos[None, :] < lens[:, None]
            if has_bos:
                mask[:, 0] = False
            with torch.inference_mode():
                _, cache = model.run_with_cache(ids.to(device), names_filter=list(hooks),
                                                stop_at_layer=stop, return_type=None)
            acts = {h: cache[h].float() for h in hooks}
            yield idx, acts, mask.to(device), (lens - 1).to(device), ids
            bar.update(int(lens.sum()))
    finally:
        bar.close()


# ----------------------------------------------------------------------------- extraction
def extract(model, texts: Sequence[str], hooks: str | Sequence[str], *, max_len: int = 1024,
            batch_size: int = 32, reducers: Sequence[str | Reducer] | dict = DEFAULT_REDUCERS,
            progress: bool = True, max_padded_tokens: int | None | str = "auto",
            ) -> dict[str, dict[str, torch.Tensor]]:
    """Reduced activations of ``texts`` at ``hooks`` in one forward pass per batch.

    Returns ``out[hook][reducer] -> FloatTensor [n_texts, d_model]`` (CPU, float32) in the order of
    ``texts``. ``reducers`` holds names from :data:`REDUCERS`, callables, or a ``{name: callable}``
    dict; a callable may return ``[B, ...]`` of any trailing shape. ``batch_size`` caps rows and
    ``max_padded_tokens`` padded tokens per forward batch (see :func:`run_batches`).
    """
    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    if not hooks:
        raise ValueError("no hooks given: pass e.g. 'blocks.12.hook_resid_post'")
    if isinstance(reducers, dict):
        red = dict(reducers)
    else:
        red = {}
        for r in reducers:
            if callable(r):
                red[getattr(r, "__name__", f"reducer{len(red)}")] = r
            elif r in REDUCERS:
                red[r] = REDUCERS[r]
            else:
                raise ValueError(f"unknown reducer {r!r}: use one of {sorted(REDUCERS)} or a callable")
    token_ids = tokenize(model, texts, max_len)
    n = len(token_ids)
    out: dict[str, dict[str, torch.Tensor]] = {h: {} for h in hooks}
    for idx, acts, mask, last, _ in run_batches(model, token_ids, hooks, batch_size, "extract", progress,
                                                 max_padded_tokens):
        where = torch.tensor(idx)
        for h in hooks:
            for name, fn in red.items():
                val = fn(acts[h], mask, last).float().cpu()
                if name not in out[h]:
                    out[h][name] = torch.zeros((n, *val.shape[1:]), dtype=val.dtype)
                out[h][name][where] = val
    return out


def iter_token_acts(model, texts: Sequence[str], hook: str, *, max_len: int = 1024, batch_size: int = 32,
                    progress: bool = True, max_padded_tokens: int | None | str = "auto",
                    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Stream every real non-BOS token's activation, one text at a time.

    Yields ``(text_index, acts [T_i, d_model] float32 CPU, token_ids [T_i])`` in batch order
    (longest texts first); only one batch is ever in memory.
    """
    token_ids = tokenize(model, texts, max_len)
    for idx, acts, mask, last, ids in run_batches(model, token_ids, [hook], batch_size, "tokens", progress,
                                                     max_padded_tokens):
        a = acts[hook].cpu()
        m = mask.cpu()
        for r, i in enumerate(idx):
            yield i, a[r][m[r]].clone(), ids[r][m[r]].clone()


# ----------------------------------------------------------------------------- cached datasets
def _dataset_texts(profile, dataset: str, ood: bool):
    ds = data.load_ood(dataset) if ood else data.load_dataset(
        dataset, max_rows=profile.max_rows, seed=profile.seed)
    return ds


def _entry(profile, dataset, hook, reducer, ood, texts_sha, n, identity):
    fields = {"model": identity, "dtype": profile.dtype, "hook": hook, "dataset": dataset,
              "ood": ood, "texts_sha256": texts_sha, "n_rows": n, "max_len": profile.max_len,
              "reducer": reducer, "extractor": EXTRACTOR_VERSION, "saeprobe": __version__}
    key = key_for(fields)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:80]
    folder = profile.home_dir / "activations" / slug / (dataset + (".ood" if ood else ""))
    return folder / f"{hook}.{reducer}.{key[:16]}.safetensors", {**fields, "key": key}


def dataset_activations(profile, dataset: str, *, hook: str | None = None, reducer: str = "last",
                        ood: bool = False, model=None, progress: bool = True) -> torch.Tensor:
    """Cached reduced activations of one P1 dataset: ``FloatTensor [n_rows, d_model]``.

    Rows follow ``saeprobe.core.data.load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)``
    (or ``load_ood(dataset)`` with ``ood=True``). On a miss, every profile hook and default reducer
    of this dataset is computed in one pass and stored, so later calls for them hit the cache.
    The model is loaded only on a miss.
    """
    if not isinstance(dataset, str):
        raise TypeError(f"dataset_activations takes a dataset name (e.g. '87_glue_cola'), got {type(dataset).__name__}; "
                        "for your own texts call saeprobe.core.activations.text_activations(profile, texts)")
    ds = _dataset_texts(profile, dataset, ood)
    return _cached_acts(profile, ds.name, ds.texts, hook=hook, reducer=reducer, ood=ood, model=model,
                        progress=progress)


def text_activations(profile, texts: Sequence[str], *, hook: str | None = None, reducer: str = "last",
                     model=None, progress: bool = True) -> torch.Tensor:
    """Activations of your own ``texts`` at the profile's hook (default: main layer) and context
    length: ``FloatTensor [n_texts, d_model]`` (``reducer``: ``last`` token, or ``mean`` / ``max`` over
    the non-BOS tokens), in the order given.

    Cached like a dataset, keyed by a digest of the texts (every profile hook and reducer in one
    pass; written atomically, validated on load), so a second call with the same texts costs
    nothing. The model is loaded only on a miss; a progress bar shows the pass.
    """
    if isinstance(texts, str):
        raise TypeError("text_activations takes a list of texts (for one text pass [text]); for a P1 dataset use "
                        "dataset_activations(profile, name)")
    _check_texts(texts)
    texts = list(texts)
    return _cached_acts(profile, f"texts-{digest_texts(texts)[:16]}", texts, hook=hook, reducer=reducer, ood=False,
                        model=model, progress=progress)


def _cached_acts(profile, name: str, texts: list[str], *, hook, reducer, ood, model, progress) -> torch.Tensor:
    hook = hook or profile.hook_name()
    texts_sha = digest_texts(texts)
    identity = models.expected_identity(profile.model) if model is None \
        else models.model_identity(model)
    if identity is not None:
        path, fields = _entry(profile, name, hook, reducer, ood, texts_sha, len(texts), identity)
        hit = load_checked(path, {"key": fields["key"]})
        if hit is not None:
            return hit[0]["acts"]
    model = model if model is not None else models.load_profile_model(profile)
    identity = models.model_identity(model)
    hooks = list(dict.fromkeys(profile.hooks + [hook])) if hook in profile.hooks else [hook]
    reducers = list(dict.fromkeys(list(DEFAULT_REDUCERS) + [reducer]))
    t0 = time.perf_counter()
    out = extract(model, texts, hooks, max_len=profile.max_len, batch_size=profile.batch_size,
                  reducers=reducers, progress=progress)
    secs = time.perf_counter() - t0
    n_tokens = sum(len(r) for r in tokenize(model, texts, profile.max_len))
    for h in hooks:
        for r in reducers:
            path, fields = _entry(profile, name, h, r, ood, texts_sha, len(texts), identity)
            atomic_save(path, {"acts": out[h][r]}, {**fields, "n_tokens": n_tokens, "seconds": secs})
    return out[hook][reducer]


def _extract_task(profile, name: str, ood: bool, progress: bool = False) -> dict:
    """One dataset of :func:`profile_activations`: extract (or load) it; a summary row."""
    t0 = time.perf_counter()
    acts = dataset_activations(profile, name, ood=ood, progress=progress)
    return {"dataset": name, "ood": ood, "n_rows": acts.shape[0], "d_model": acts.shape[1],
            "seconds": round(time.perf_counter() - t0, 2)}


def profile_activations(profile, *, include_ood: bool = True, progress: bool = True,
                        scheduler: str | None = None):
    """Extract (or load) every dataset of the profile; returns a summary ``pandas.DataFrame``.

    Columns: dataset, ood, n_rows, d_model, seconds (this call). A killed run resumes at the first
    dataset whose cache entry is missing. With a Dask ``scheduler`` (argument, ``$SAEPROBE_SCHEDULER``
    or ``scale.scheduler``; see :mod:`saeprobe.core.scale`) every dataset is one task: each worker
    loads the model once (a worker plugin), and tasks ask for ``scale.gpu_resource`` where a worker
    offers it. The cache entries (atomic, content-keyed) are the same either way.
    """
    import pandas as pd

    jobs = [(d, False) for d in profile.dataset_names()]
    if include_ood:
        jobs += [(d, True) for d in profile.ood_datasets]
    sched = scale.scheduler_for(scheduler, profile)
    if sched is not None and jobs:
        missing = [(n, o) for n, o in jobs if not _is_cached(profile, n, o)]
        rows = {(n, o): _extract_task(profile, n, o) for n, o in jobs if (n, o) not in set(missing)}
        done = scale.run_tasks(_extract_task, [((profile, n, o), {}) for n, o in missing], scheduler=sched,
                               resources=f"gpu:{profile.scale.gpu_resource}",
                               plugin=scale.model_plugin(profile) if missing else None)
        for row in tqdm(done, total=len(missing), desc="datasets", disable=no_bar(progress)):
            rows[(row["dataset"], row["ood"])] = row
        return pd.DataFrame([rows[j] for j in jobs])
    rows = []
    for name, ood in tqdm(jobs, desc="datasets", disable=no_bar(progress)):
        rows.append(_extract_task(profile, name, ood, progress=progress))
    return pd.DataFrame(rows)


def _is_cached(profile, dataset: str, ood: bool) -> bool:
    """Whether the main hook's last-token entry of ``dataset`` is cached (no model needed)."""
    identity = models.expected_identity(profile.model)
    if identity is None:
        return False
    ds = _dataset_texts(profile, dataset, ood)
    path, fields = _entry(profile, ds.name, profile.hook_name(), "last", ood, digest_texts(ds.texts), len(ds.texts),
                          identity)
    return load_checked(path, {"key": fields["key"]}) is not None
