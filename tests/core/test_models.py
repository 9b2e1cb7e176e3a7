"""saeprobe.models: the real offline Gemma 3 270M and clear errors."""
import pytest
import torch

from saeprobe.core import models


@pytest.mark.real
def test_real_gemma_predicts_sensible_next_token(real_model):
    logits = real_model("One, two, three, four,")
    assert real_model.tokenizer.decode(logits[0, -1].argmax()) == " five"
    assert real_model.cfg.n_layers == 18 and real_model.cfg.d_model == 640


@pytest.mark.real
def test_real_gemma_identity_names_offline_weights(real_model):
    ident = models.model_identity(real_model)
    assert ident.startswith("google/gemma-3-270m@gguf-q4_k_m:")
    assert models.expected_identity("google/gemma-3-270m") == ident


def test_unknown_model_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="not available offline.*SAEPROBE_ONLINE"):
        models.load_model("gpt2-nonexistent-model", device="cpu")


def test_bad_dtype_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown dtype"):
        models._dtype("float8", "cpu")


def test_default_dtype_by_device():
    assert models._dtype(None, "cpu") == torch.float32
    assert models._dtype(None, "cuda") == torch.bfloat16


def test_tiny_model_identity_is_a_parameter_fingerprint(tiny_model):
    assert models.model_identity(tiny_model).startswith("tiny-random@params:")
