"""NaN / inf in a feature matrix: one line naming rows and columns."""
import numpy as np
import pytest
import scipy.sparse as sp

from saeprobe.core.checks import NonFiniteFeatures, check_finite


def test_dense_nan_and_inf_are_located():
    X = np.ones((10, 4))
    X[3, 1] = np.nan
    X[7, 2] = np.inf
    with pytest.raises(NonFiniteFeatures) as err:
        check_finite(X, "my features")
    msg = str(err.value)
    assert "my features holds NaN/inf at rows [3, 7] (2 in all) x columns [1, 2] (2 in all)" in msg
    assert "\n" not in msg


def test_sparse_and_many_rows():
    X = sp.random(50, 30, density=0.2, format="csr", random_state=0)
    X.data[:8] = np.nan
    with pytest.raises(NonFiniteFeatures, match=r"rows \[0, 1, .*, \.\.\.\] \(\d+ in all\)"):
        check_finite(X)
    check_finite(sp.csr_matrix((3, 3)))  # empty sparse: fine
    check_finite(np.arange(5))  # integers cannot be NaN


def test_probes_report_nan_before_sklearn():
    from saeprobe.p1.probes import LRProbe, SAETopKProbe

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.arange(40) % 2
    X[11, 4] = np.nan
    with pytest.raises(ValueError, match=r"LRProbe.fit: the training features holds NaN at rows \[11\]"):
        LRProbe(Cs=[1.0]).fit(X, y)
    ok = LRProbe(Cs=[1.0]).fit(np.nan_to_num(X), y)
    with pytest.raises(ValueError, match="LRProbe: the features to score holds NaN at rows"):
        ok.predict_proba(X)
    with pytest.raises(ValueError, match="columns \\[4\\]"):
        SAETopKProbe(k=2).fit(sp.csr_matrix(X), y)
