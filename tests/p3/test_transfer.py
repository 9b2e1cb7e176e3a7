"""saeprobe.p3.transfer: which models load offline, and the cross-model guard rails."""
import pytest

from saeprobe.core import models
from saeprobe.core.settings import P3Settings
from saeprobe.p3 import transfer


@pytest.mark.skipif(not models.hub_offline(), reason="needs HF_HUB_OFFLINE=1 (the default)")
def test_model_available_offline():
    assert transfer.model_available("google/gemma-3-270m").available
    av = transfer.model_available("google/gemma-2-2b")
    assert not av.available and "SAEPROBE_ONLINE" in av.reason


def test_cross_model_needs_two_models(tmp_profile):
    with pytest.raises(ValueError, match="two different models"):
        transfer.cross_model_transfer(tmp_profile, "google/gemma-3-270m", "google/gemma-3-270m", "97_news_class")


def test_crosslingual_languages_cover_the_default_sets():
    assert set(transfer.CROSSLINGUAL) == set(P3Settings().crosslingual)
    assert sorted(transfer.CROSSLINGUAL.values()) == ["French", "German", "Spanish"]
