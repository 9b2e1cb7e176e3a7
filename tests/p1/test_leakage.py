"""P1's split leakage (duplicate prompts across the standard split), on the real datasets."""
from saeprobe.p1 import leakage


def test_split_leakage_known_issues():
    q = leakage.quality_report().set_index("name")
    assert len(q) == 113
    for name in ("130_temp_cat_Frequency", "131_temp_cat_Typical Time", "132_temp_cat_Event Ordering"):
        assert q.loc[name, "test_in_train_frac"] > 0.8
    assert 0.15 < q["test_in_train_frac"].median() < 0.19  # PROTOCOLS: median 17%
    assert q.loc["87_glue_cola", "num_train"] == 1024 and q.loc["87_glue_cola", "num_test"] == 3975
    one = leakage.quality_report("glue_cola")
    assert len(one) == 1 and one["test_in_train"].iloc[0] == q.loc["87_glue_cola", "test_in_train"]
    capped = leakage.quality_report(["glue_cola", "130_temp_cat_Frequency"], max_rows=600).set_index("name")
    assert (capped["n_rows"] == 600).all() and (capped["num_train"] == 500).all() and (capped["num_test"] == 99).all()
    assert capped.loc["130_temp_cat_Frequency", "test_in_train_frac"] > capped.loc["87_glue_cola", "test_in_train_frac"]
    mc = leakage.quality_report("37_arith_mc")
    assert "test_in_train" not in mc.columns  # multiclass: no P1 binary split
