"""saeprobe: probing LLM activations with sparse autoencoders, reproducibly.

Packages (see ARCHITECTURE.md): :mod:`saeprobe.core` (profiles and settings, caches, models,
datasets, activations, statistics; imports no paper), :mod:`saeprobe.saes` (our SAEs, built on
sae-lens), one package per paper -- :mod:`saeprobe.p1` (Kantamneni et al., sparse probing),
:mod:`saeprobe.p2` (Paulo & Belrose, seed stability), :mod:`saeprobe.p3` (MOSAIC) -- and
:mod:`saeprobe.book` (the notebook runner).
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

from saeprobe.core.config import Profile, load_profile  # noqa: E402

__all__ = ["Profile", "load_profile", "__version__"]
