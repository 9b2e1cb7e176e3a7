"""saeprobe.data: registry, names, loading, OOD files, reports — on the real sae-probes data."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import LabelEncoder

from saeprobe.core import data, data_report


def _raw(name: str) -> pd.DataFrame:
    return pd.read_csv(data.data_dir() / "cleaned_data" / f"{name}.csv.zst", compression="zstd")


def test_list_datasets_counts():
    binary = data.list_datasets("binary")
    assert len(binary) == 113 and len(set(binary)) == 113
    assert len(data.list_datasets("multiclass")) == 20
    assert len(data.list_datasets("continuous")) == 22
    assert data.list_datasets("ood") == [
        "5_hist_fig_ismale", "6_hist_fig_isamerican", "7_hist_fig_ispolitician", "66_living-room",
        "67_social-security", "73_control-group", "87_glue_cola", "90_glue_qnli",
    ]
    assert "87_glue_cola" in binary and "10_nyc_borough" not in binary
    assert binary == data.list_datasets()  # default kind
    with pytest.raises(ValueError, match="unknown dataset kind"):
        data.list_datasets("regression")


def test_resolve_name():
    for alias in ("87_glue_cola", "glue_cola", "GLUE_COLA", "87", 87, "87_glue_cola.csv.zst",
                  "cleaned_data/87_glue_cola.csv"):
        assert data.resolve_name(alias) == "87_glue_cola"
    assert data.resolve_name("temp_cat_Typical Time") == "131_temp_cat_Typical Time"
    with pytest.raises(ValueError) as err:
        data.resolve_name("glue_colla")
    msg = str(err.value)
    assert "\n" not in msg and "glue_colla" in msg and "87_glue_cola" in msg
    with pytest.raises(ValueError, match="non-empty"):
        data.resolve_name("")


def test_load_glue_cola_real():
    ds = data.load_dataset("glue_cola")
    assert ds.name == "87_glue_cola" and len(ds) == 5000
    assert ds.classes == ["0", "1"]
    assert ds.labels.dtype == np.int64 and np.bincount(ds.labels).tolist() == [2500, 2500]
    assert all(isinstance(t, str) and t for t in ds.texts)
    raw = _raw("87_glue_cola")
    assert ds.texts == raw["prompt"].tolist()  # file order = P1's activation order
    np.testing.assert_array_equal(ds.labels, LabelEncoder().fit_transform(raw["target"]))
    np.testing.assert_array_equal(ds.row_index, np.arange(5000))
    assert ds.meta["n_dropped_empty"] == 0 and ds.meta["kind"] == "binary" and ds.meta["number"] == 87
    # mutating a returned dataset does not touch the cache
    ds.labels[:] = 0
    ds.texts[0] = "changed"
    again = data.load_dataset("87_glue_cola")
    assert np.bincount(again.labels).tolist() == [2500, 2500] and again.texts[0] != "changed"


def test_label_encoding_matches_p1_for_string_and_bool_targets():
    truth = data.load_dataset("41_truthqa_tf")
    assert truth.classes == ["correct", "incorrect"]  # sorted: class 1 is the later label
    raw = _raw("41_truthqa_tf")
    np.testing.assert_array_equal(truth.labels, (raw["target"] == "incorrect").astype(int))
    trump = data.load_dataset("headline_istrump")
    assert trump.classes == ["False", "True"]
    np.testing.assert_array_equal(trump.labels, _raw("21_headline_istrump")["target"].astype(int))


def test_loading_is_cached_and_fast():
    data.load_dataset("92_glue_sst2")
    t0 = time.perf_counter()
    for _ in range(5):
        data.load_dataset("92_glue_sst2")
    assert (time.perf_counter() - t0) / 5 < 0.1


def test_max_rows_balanced_deterministic():
    a = data.load_dataset("glue_cola", max_rows=200)
    b = data.load_dataset("glue_cola", max_rows=200, seed=42)
    c = data.load_dataset("glue_cola", max_rows=200, seed=7)
    assert len(a) == 200 and np.bincount(a.labels).tolist() == [100, 100]
    assert a.texts == b.texts and not np.array_equal(a.row_index, c.row_index)
    assert np.all(np.diff(a.row_index) > 0)  # file order kept
    full = data.load_dataset("glue_cola")
    assert [full.texts[i] for i in a.row_index] == a.texts
    np.testing.assert_array_equal(full.labels[a.row_index], a.labels)
    odd = data.load_dataset("glue_cola", max_rows=101)
    assert sorted(np.bincount(odd.labels).tolist()) == [50, 51]
    assert len(data.load_dataset("95_toxic_is", max_rows=10_000)) == 728
    multi = data.load_dataset("10_nyc_borough", max_rows=50)
    assert np.bincount(multi.labels).tolist() == [10] * 5
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="max_rows"):
            data.load_dataset("glue_cola", max_rows=bad)


def test_dedup_drops_repeats_and_conflicts():
    full = data.load_dataset("7_hist_fig_ispolitician")
    ded = data.load_dataset("7_hist_fig_ispolitician", dedup=True)
    assert len(set(ded.texts)) == len(ded.texts)
    m = ded.meta
    assert m["n_dropped_conflicting"] > 0 and m["n_dropped_duplicates"] > 0
    assert len(ded) == m["n_file_rows"] - m["n_dropped_empty"] - m["n_dropped_duplicates"] - m["n_dropped_conflicting"]
    df = pd.DataFrame({"t": full.texts, "y": full.labels})
    conflicting = set(df.groupby("t")["y"].nunique().loc[lambda s: s > 1].index)
    assert len(conflicting) == 6 and not conflicting & set(ded.texts)
    assert len(ded) == df["t"].nunique() - len(conflicting)
    sub = data.load_dataset("7_hist_fig_ispolitician", dedup=True, max_rows=300)
    assert len(set(sub.texts)) == 300


def test_empty_prompts_dropped_with_count():
    ds = data._build("x", ("a", None, "  ", "b"), np.array([0, 1, 0, 1]), ["0", "1"],
                     max_rows=None, seed=42, dedup=False, meta={})
    assert ds.texts == ["a", "b"] and ds.labels.tolist() == [0, 1] and ds.meta["n_dropped_empty"] == 2
    assert ds.row_index.tolist() == [0, 3]


def test_multiclass_loads():
    ds = data.load_dataset("nyc_borough")
    assert ds.name == "10_nyc_borough" and ds.n_classes == 5
    assert ds.classes == sorted(ds.classes) and set(ds.labels.tolist()) == set(range(5))
    with pytest.raises(ValueError, match="continuous"):
        data.load_dataset("2_hist_fig_birthyear")


@pytest.mark.parametrize("name", data.list_datasets("ood"))
def test_ood_files_load_with_parent_encoding(name):
    ood = data.load_ood(name)
    parent = data.load_dataset(name)
    assert ood.name == f"{name}_OOD" and ood.meta["ood"] and ood.meta["parent"] == name
    assert 290 <= len(ood) <= 300 and ood.classes == parent.classes
    assert set(ood.labels.tolist()) == {0, 1}
    raw = pd.read_csv(data.ood_path(name), compression="zstd")
    # P1 fits a LabelEncoder on the OOD file itself: our parent-based encoding must agree
    np.testing.assert_array_equal(ood.labels, LabelEncoder().fit_transform(raw["target"].astype(str)))
    assert ood.texts == raw["prompt"].astype(str).tolist()


def test_ood_errors(monkeypatch):
    with pytest.raises(ValueError, match="no OOD test file"):
        data.load_ood("92_glue_sst2")
    monkeypatch.setattr(data, "_OOD_LABEL_OVERRIDES", {})
    with pytest.raises(ValueError, match="not_entailment"):
        data.load_ood("glue_qnli")


def test_describe_binary():
    df = data_report.describe()
    assert len(df) == 113 and df["name"].tolist() == data.list_datasets("binary")
    for col in ("name", "number", "tag", "family", "category", "source", "n_rows", "pos_frac",
                "median_chars", "classes"):
        assert col in df.columns
    assert df["n_rows"].min() == 728 and df["n_rows"].max() == 5000
    assert np.allclose(df["pos_frac"], 0.5)  # every binary P1 set is exactly balanced
    assert (df["category"] != "other").all() and df["family"].nunique() > 20
    cola = df.set_index("name").loc["87_glue_cola"]
    assert cola["n_rows"] == 5000 and cola["classes"] == "0|1" and cola["family"] == "glue"
    assert df["has_ood"].sum() == 8
    assert len(data_report.describe("multiclass")) == 20


def test_quality_report_known_issues():
    q = data_report.quality_report().set_index("name")
    assert len(q) == 113
    assert q["n_conflicting_prompts"].sum() == 79  # PROTOCOLS: 79 prompts with both labels
    assert q.loc["7_hist_fig_ispolitician", "n_conflicting_prompts"] == 6
    assert q.loc["87_glue_cola", "n_duplicate_rows"] == 5000 - 3647
    assert (q["identical_to"] == "").all()  # no byte-identical pair among the binary sets
    assert "test_in_train" not in q.columns  # split leakage is P1's (saeprobe.p1.leakage)
    capped = data_report.quality_report(["glue_cola", "130_temp_cat_Frequency"], max_rows=600).set_index("name")
    assert (capped["n_rows"] == 600).all()


def test_identical_pairs():
    assert data_report.identical_pairs("all") == [
        ("15_us_population", "16_us_density"), ("37_arith_mc", "38_arith_difficulty"),
        ("111_yelp_data", "112_amzn_rev"),
    ]
    assert data_report.identical_pairs("binary") == []
    mc = data_report.quality_report("37_arith_mc")
    assert mc["identical_to"].iloc[0] == "38_arith_difficulty" and "test_in_train" not in mc.columns


def test_does_not_import_sae_probes():
    code = ("import sys; from saeprobe.core import data; data.load_dataset('glue_cola'); data.load_ood('glue_cola'); "
            "assert 'sae_probes' not in sys.modules; assert 'transformer_lens' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
