"""sklearn's estimator checks on the P1 probes (binary-only estimators: multiclass checks are skipped
by the estimators' tags)."""
import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from saeprobe.p1.probes import KNNProbe, LRProbe, PCAProbe, SAETopKProbe, ZLRProbe

# small grids keep the ~50 checks per estimator fast; the selection machinery is the same
ESTIMATORS = [
    LRProbe(Cs=[1.0, 0.01]),
    ZLRProbe(Cs=[1.0, 0.01]),
    PCAProbe(max_components=4),
    KNNProbe(max_k=5),
    SAETopKProbe(k=2, estimator=LRProbe(penalty="l2", Cs=[1.0, 0.01])),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
