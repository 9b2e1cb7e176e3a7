"""saeprobe.p3.settings: the profile's P3Settings resolved, datasets, rows, pooled forms, main layer."""
import dataclasses

from saeprobe.core.settings import P3Settings
from saeprobe.p3 import settings as p3s


def test_settings_resolve_layers_and_keep_the_rest(tmp_profile):
    s = p3s.settings(tmp_profile)
    assert isinstance(s, P3Settings)
    assert s.layers == (4, 8, 12)  # smoke: p3.layers null -> every profile layer
    assert dataclasses.replace(s, layers=None) == tmp_profile.p3
    assert p3s.settings(tmp_profile.replace(p3={"layers": [12, 4]})).layers == (12, 4)  # as given


def test_datasets_and_row_cap(tmp_profile):
    names = p3s.datasets(tmp_profile)
    assert names[0] == ("27_art_type", "multiclass")
    assert [n for n, k in names if k == "binary"] == list(tmp_profile.datasets)
    assert p3s.p3_profile(tmp_profile) is tmp_profile  # p3.max_rows null
    assert p3s.p3_profile(tmp_profile.replace(p3={"max_rows": 12})).max_rows == 12
    ood = p3s.load_texts(tmp_profile, "66_living-room", True)
    assert len(ood.texts) == tmp_profile.p3.ood_max_rows


def test_feature_forms(tmp_profile):
    assert p3s.feature_forms(tmp_profile.p3) == [("count", 0), ("count", 20), ("sum", 0), ("sum", 20), ("max", 0),
                                                 ("mean", 0), ("last", 0)]


def test_main_layer(tmp_profile):
    assert p3s.main_layer(tmp_profile) == 12
    assert p3s.main_layer(tmp_profile.replace(p3={"layers": [4, 8]})) == 8  # main 12 not in p3: the middle one


def test_constants_are_the_settings_defaults():
    assert p3s.TOP_N == P3Settings().top_n == (0, 20, 50)
    assert p3s.POOLINGS == P3Settings().poolings
