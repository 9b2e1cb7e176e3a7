"""Shared fixtures: the real offline Gemma 3 270M (loaded once per test session) and a tiny model."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def real_model():
    """The real offline Gemma 3 270M as a HookedTransformer (fp32, CPU)."""
    from saeprobe.core.models import load_model

    return load_model("google/gemma-3-270m", device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_model(real_model):
    """A 2-layer random HookedTransformer sharing Gemma's tokenizer (fast; for shapes and caching)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    tok = real_model.tokenizer
    cfg = HookedTransformerConfig(n_layers=2, d_model=16, d_head=8, n_heads=2, d_mlp=32, n_ctx=128,
                                  d_vocab=real_model.cfg.d_vocab, act_fn="gelu", model_name="tiny-random",
                                  normalization_type="LN", seed=0)
    model = HookedTransformer(cfg, tokenizer=tok, default_padding_side="right")
    model.eval()
    return model


@pytest.fixture()
def tmp_profile(tmp_path):
    """The smoke profile with its cache root in a fresh temporary folder (model weights shared)."""
    from saeprobe.core.config import load_profile

    return load_profile("smoke", home=str(tmp_path))
