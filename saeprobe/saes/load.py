"""Load SAEs (hub releases or local sae-lens folders), check them against the model, save them atomically.

On-disk format of an SAE we save: a folder holding sae-lens's own files (``cfg.json`` +
``sae_weights.safetensors``, readable by ``sae_lens.SAE.load_from_disk``) and our
``saeprobe_manifest.json`` (spec, seed, tokens seen, corpus, metrics, training history and the
SHA-256 of the weights file). The folder is written under a temporary name and renamed into
place, so a half-written SAE is never picked up; :func:`load_sae` re-checks the checksum.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from saeprobe.core.models import hub_offline
from saeprobe.saes.specs import sae_specs

log = logging.getLogger("saeprobe.saes")

MANIFEST = "saeprobe_manifest.json"
WEIGHTS = "sae_weights.safetensors"
CFG = "cfg.json"


class SAEUnavailableOffline(RuntimeError):
    """A hub SAE was requested without hub access."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _hub_offline() -> bool:
    try:
        return hub_offline()
    except ImportError:  # pragma: no cover - models.py always ships
        return os.environ.get("HF_HUB_OFFLINE", "1").lower() not in ("0", "false", "no", "")


def split_hub_spec(spec: str) -> tuple[str, str] | None:
    """``"release/sae_id"`` -> ``(release, sae_id)`` when ``release`` is a sae-lens release, else None.

    ``sae_id`` may itself contain slashes (``gemma-scope-9b-pt-res/layer_20/width_16k/average_l0_408``).
    """
    if "/" not in spec:
        return None
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    directory = get_pretrained_saes_directory()
    release, sae_id = spec.split("/", 1)
    if release in directory:
        return release, sae_id
    return None


def check_compat(sae: Any, *, model: Any = None, hook: str | None = None, d_in: int | None = None, name: str = "SAE") -> None:
    """Raise a one-line ``ValueError`` if ``sae`` does not fit ``model``/``hook``/``d_in``."""
    sae_d_in = int(sae.cfg.d_in)
    want = d_in if d_in is not None else (int(model.cfg.d_model) if model is not None else None)
    if want is not None and sae_d_in != want:
        src = f"model {getattr(model.cfg, 'model_name', '?')} (d_model {want})" if model is not None else f"d_in {want}"
        raise ValueError(
            f"{name} has d_in {sae_d_in} but the {src} needs {want}: pick an SAE trained on this model "
            "(offline: saeprobe.saes.get_sae(profile, ...))"
        )
    sae_hook = getattr(sae.cfg.metadata, "hook_name", None)
    if hook is not None and sae_hook and sae_hook != hook:
        raise ValueError(f"{name} reads hook {sae_hook!r} but {hook!r} was requested: pick the SAE for that hook/layer")
    if model is not None and sae_hook and sae_hook not in getattr(model, "hook_dict", {sae_hook: None}):
        raise ValueError(f"{name} reads hook {sae_hook!r}, which model {model.cfg.model_name} does not have")


def read_manifest(path: str | os.PathLike) -> dict | None:
    """Our manifest of a saved SAE folder, or None when the folder has none (e.g. a foreign SAE)."""
    f = Path(path) / MANIFEST
    return json.loads(f.read_text()) if f.exists() else None


def validate_folder(path: str | os.PathLike, expect: dict | None = None) -> dict | None:
    """Manifest of a complete, uncorrupted SAE folder that matches ``expect``; else None (with a log line)."""
    path = Path(path)
    if not (path / CFG).exists() or not (path / WEIGHTS).exists():
        return None
    try:
        man = read_manifest(path)
    except (OSError, json.JSONDecodeError):
        man = None
    if man is None:
        log.warning("SAE folder %s has no readable manifest", path)
        return None
    if man.get("weights_sha256") != _sha256_file(path / WEIGHTS):
        log.warning("SAE folder %s: weights checksum mismatch", path)
        return None
    for k, v in (expect or {}).items():
        if man.get(k) != v:
            log.warning("SAE folder %s: manifest %s=%r, expected %r", path, k, man.get(k), v)
            return None
    return man


def save_sae(sae: Any, path: str | os.PathLike, manifest: dict) -> Path:
    """Save ``sae`` (sae-lens format) plus ``manifest`` to folder ``path`` atomically (temp dir + rename).

    Training SAEs are saved as their inference version. Returns the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        if hasattr(sae, "save_inference_model"):
            sae.save_inference_model(tmp)
        else:
            sae.save_model(tmp)
        man = dict(manifest)
        man["weights_sha256"] = _sha256_file(tmp / WEIGHTS)
        (tmp / MANIFEST).write_text(json.dumps(man, indent=1, sort_keys=True, default=str))
        if path.exists():  # stale/invalid entry (or a concurrent writer): replace it
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _local_alternative(profile: Any) -> str:
    if profile is None:
        return "train one offline with saeprobe.saes.get_sae(profile, ...) (profile 'cpu' does)"
    try:
        specs = sae_specs(profile)
        if specs:
            return f"profile {profile.name!r} uses its own local SAE {specs[0].name!r} instead (saeprobe.saes.get_sae)"
    except Exception:  # pragma: no cover - a broken sae section
        pass
    return f"profile {profile.name!r} defines no local SAE; add one to its `sae:` section"


def load_sae(
    spec: str | os.PathLike,
    model: Any = None,
    *,
    hook: str | None = None,
    profile: Any = None,
    device: str | None = None,
    dtype: str = "float32",
) -> Any:
    """Load an SAE and check it fits.

    Args:
        spec: ``"release/sae_id"`` (sae-lens hub release, e.g.
            ``"gemma-scope-2-270m-pt-res/layer_12_width_16k_l0_medium"``) or a local folder in
            sae-lens save format (``cfg.json`` + ``sae_weights.safetensors``).
        model: optional HookedTransformer; ``d_in`` must equal its ``d_model`` and the SAE's
            hook must exist in it.
        hook: optional hook name the SAE must read (e.g. ``profile.hook_name()``).
        profile: used only to name the local replacement in the offline error.

    Returns:
        sae-lens ``SAE`` (inference class) in eval mode; ``sae.saeprobe_manifest`` holds our
        manifest (or None) and ``sae.saeprobe_spec`` the spec string.

    Raises:
        SAEUnavailableOffline: hub spec without hub access (names the local SAE to use instead).
        ValueError: unknown spec, or the SAE does not fit the model / hook (one line).
    """
    from sae_lens import SAE

    device = device or (str(next(model.parameters()).device) if model is not None else "cpu")
    text = str(spec)
    p = Path(text).expanduser()
    if p.is_dir():
        if not (p / CFG).exists() or not (p / WEIGHTS).exists():
            raise ValueError(f"{p} is not an SAE folder: it needs {CFG} and {WEIGHTS} (sae-lens save format)")
        man = read_manifest(p)
        if man is not None and man.get("weights_sha256") != _sha256_file(p / WEIGHTS):
            raise ValueError(f"{p}: weights do not match the manifest checksum (corrupt); delete the folder to retrain")
        sae = SAE.load_from_disk(p, device=device, dtype=dtype)
    else:
        parts = split_hub_spec(text)
        if parts is None:
            raise ValueError(
                f"SAE spec {text!r} is neither a folder nor 'release/sae_id' of a sae-lens release "
                "(see sae_lens pretrained_saes.yaml)"
            )
        release, sae_id = parts
        if _hub_offline():
            raise SAEUnavailableOffline(
                f"hub SAE {text!r} needs hub access (set SAEPROBE_ONLINE=1 with network); offline, "
                + _local_alternative(profile)
            )
        try:
            sae = SAE.from_pretrained(release, sae_id, device=device, dtype=dtype)
        except ValueError as exc:
            raise ValueError(f"sae-lens does not know {text!r}: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # requests/huggingface_hub connection errors: the hub is unreachable
            raise SAEUnavailableOffline(
                f"could not download hub SAE {text!r} ({type(exc).__name__}); " + _local_alternative(profile)
            ) from None
        man = None
    sae.eval()
    check_compat(sae, model=model, hook=hook, name=f"SAE {text!r}")
    sae.saeprobe_manifest = man
    sae.saeprobe_spec = text
    return sae


def sae_identity(sae: Any) -> str:
    """A string naming an SAE's exact weights (its training-manifest key, else a hash of its encoder):
    part of the cache keys of everything computed from its codes."""
    man = getattr(sae, "saeprobe_manifest", None) or {}
    if man.get("key"):
        return f"{man.get('name', 'sae')}@{man['key']}"
    h = hashlib.sha256()
    for name in ("W_enc", "b_enc", "threshold"):
        t = getattr(sae, name, None)
        if isinstance(t, torch.Tensor):
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return f"{type(sae).__name__}-{sae.cfg.d_sae}@{h.hexdigest()[:24]}"


def sae_state_equal(a: Any, b: Any) -> bool:
    """True when two SAEs have identical parameter names, shapes and values."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
