"""P3 — MOSAIC (Gallifant, Chen et al. 2025): pooled SAE features for text classification.

Notebooks ``40``–``44`` orchestrate these modules (see PROTOCOLS.md, P3), from the bottom up:

* :mod:`saeprobe.p3.settings` -- the profile's resolved ``p3:`` settings, the P3 datasets and rows,
  the pooled forms of the grid, the main layer; the paper's constants (``MOSAIC_PAPER``, ``TOP_N``,
  ``POOLINGS``).
* :mod:`saeprobe.p3.features` -- pooling (``pool_text``), ``binarize``, the profile's SAEs
  (``sae_table``, ``load_saes``, ``sae_identity``) and the pooled-feature cache (``sae_features``).
* :mod:`saeprobe.p3.protocol` -- feature configurations (``Config``, ``grid_configs``), the 80/20 +
  validation split, the C path, macro F1, the TF-IDF baseline, ``evaluate`` / ``run`` (cached).
* :mod:`saeprobe.p3.selection` -- choosing C / the configuration on validation or test, summaries
  with bootstrap CIs over datasets, the optimism of test-set selection.
* :mod:`saeprobe.p3.transfer` -- cross-lingual (``crosslingual``) and cross-model
  (``cross_model_transfer``) transfer.
* :mod:`saeprobe.p3.visual` -- MOSAIC's image classification: a text SAE on a VLM's image tokens
  (``run_visual``, ``summarize_visual``, ``visual_available``; notebook 45, hub only).
* :mod:`saeprobe.p3.setup` -- ``setup(profile)``: what every notebook starts from.

The main entry points are re-exported here (``from saeprobe.p3 import setup, run, select``). Note
that ``saeprobe.p3.setup`` in this namespace is the *function*; import from the module of that name
with ``from saeprobe.p3.setup import Setup``. The settings resolver is
``from saeprobe.p3.settings import settings`` (not re-exported, so the module keeps its name here).
"""
from saeprobe.p3.features import binarize, load_saes, pool_text, sae_features, sae_identity, sae_table
from saeprobe.p3.protocol import (
    TFIDF_SETTINGS,
    Config,
    c_path,
    evaluate,
    grid_configs,
    macro_f1,
    mosaic_config_label,
    run,
    split,
    tfidf_vectorizer,
)
from saeprobe.p3.selection import best_config, mean_ci, optimism, paired_ci, select, summarize, summary_row
from saeprobe.p3.settings import MOSAIC_PAPER, POOLINGS, TOP_N, datasets, main_layer, p3_profile
from saeprobe.p3.setup import Setup, setup
from saeprobe.p3.transfer import CROSSLINGUAL, Availability, cross_model_transfer, crosslingual, model_available
from saeprobe.p3.visual import run_visual, summarize_visual, visual_available

__all__ = [
    "binarize", "load_saes", "pool_text", "sae_features", "sae_identity", "sae_table",
    "TFIDF_SETTINGS", "Config", "c_path", "evaluate", "grid_configs", "macro_f1", "mosaic_config_label", "run",
    "split", "tfidf_vectorizer",
    "best_config", "mean_ci", "optimism", "paired_ci", "select", "summarize", "summary_row",
    "MOSAIC_PAPER", "POOLINGS", "TOP_N", "datasets", "main_layer", "p3_profile",
    "Setup", "setup",
    "CROSSLINGUAL", "Availability", "crosslingual", "cross_model_transfer", "model_available",
    "run_visual", "summarize_visual", "visual_available",
]
