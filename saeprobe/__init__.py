"""saeprobe: probing LLM activations with sparse autoencoders, reproducibly.

Layers: :mod:`saeprobe.config` (profiles), :mod:`saeprobe.models` (TransformerLens models, offline
Gemma 3 270M), :mod:`saeprobe.data` (P1 datasets), :mod:`saeprobe.activations` (cached extraction).
"""
import os as _os

# Nothing in saeprobe may reach a hub or a tracker unless the user opts in (SAEPROBE_ONLINE=1).
_os.environ.setdefault("WANDB_MODE", "disabled")
if _os.environ.get("SAEPROBE_ONLINE", "0") != "1":
    _os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
else:  # an explicit opt-in wins over an inherited HF_HUB_OFFLINE=1 (e.g. the Makefile's default)
    _os.environ["HF_HUB_OFFLINE"] = "0"
    _os.environ["HF_DATASETS_OFFLINE"] = "0"
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"

from saeprobe.config import Profile, load_profile  # noqa: E402

__all__ = ["Profile", "load_profile", "__version__"]
