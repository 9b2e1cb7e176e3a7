"""Sparse autoencoders on the model's residual stream, built on sae-lens (v6).

* :func:`load_sae` — hub releases (``"release/sae_id"``) or local sae-lens folders, checked against
  the model (``d_in``, hook); offline + hub spec -> :class:`SAEUnavailableOffline` naming the
  profile's local SAE.
* :func:`get_sae` / :func:`profile_saes` — the profile's own SAEs (TopK, ReLU+L1, JumpReLU),
  trained offline on a held-out corpus (see :mod:`saeprobe.saes.corpus`), cached with a manifest.
* :func:`sae_quality` — L0, FVE, dead fraction (kept in the training manifest);
  :func:`quality` / :func:`quality_table` — every metric incl. CE loss recovered, with CIs over texts.
* :func:`encode` — sparse (CSR) encoding in row batches; :func:`pool_token_codes` for P3's
  pooled forms; :class:`DiskEncoder` streams a too-big-for-memory SAE from disk.
"""
from saeprobe.saes.corpus import TokenCorpus, corpus_settings, token_corpus, training_texts
from saeprobe.saes.encode import (
    POOL_METHODS,
    DiskEncoder,
    dense_encode,
    encode,
    encode_topk,
    pool_token_codes,
)
from saeprobe.saes.load import (
    SAEUnavailableOffline,
    check_compat,
    load_sae,
    read_manifest,
    sae_identity,
    sae_state_equal,
    save_sae,
    split_hub_spec,
    validate_folder,
)
from saeprobe.saes.metrics import ce_loss_delta, metrics_table, reconstruction_metrics, sae_quality
from saeprobe.saes.quality import page_quality, quality, quality_note, quality_table
from saeprobe.saes.specs import SAESpec, sae_specs, select_specs
from saeprobe.saes.train import get_sae, profile_saes, sae_dir, train_sae

__all__ = [
    "TokenCorpus", "corpus_settings", "token_corpus", "training_texts",
    "POOL_METHODS", "DiskEncoder", "dense_encode", "encode", "encode_topk", "pool_token_codes",
    "SAEUnavailableOffline", "check_compat", "load_sae", "read_manifest", "sae_identity", "sae_state_equal", "save_sae",
    "split_hub_spec", "validate_folder",
    "ce_loss_delta", "metrics_table", "reconstruction_metrics", "sae_quality", "page_quality", "quality", "quality_note", "quality_table",
    "SAESpec", "get_sae", "profile_saes", "sae_dir", "sae_specs", "select_specs", "train_sae",
]
