"""P3's grid as Dask tasks (saeprobe.p3.protocol.run with a scheduler): a real LocalCluster of 2
worker processes on loopback gives the single-machine table; a rerun reads the results store. The
TF-IDF baseline needs no model in the workers, so the test stays small; the model path of a worker is tested by
tests/core/test_dask_extraction.py."""
import pandas as pd
import pytest

pytest.importorskip("distributed")

from saeprobe.core import scale  # noqa: E402
from saeprobe.core.config import load_profile  # noqa: E402
from saeprobe.p3 import protocol  # noqa: E402

pytestmark = pytest.mark.real


def test_p3_grid_on_a_cluster_equals_one_machine(real_model, tmp_path):
    # real_model: the offline model is converted, so its identity is known and results are stored
    configs = [protocol.Config("tfidf")]
    here = load_profile("smoke", home=str(tmp_path / "here"))
    there = load_profile("smoke", home=str(tmp_path / "cluster"))
    ref = protocol.run(here, configs, progress=False, scheduler=None)
    assert len(ref) and set(ref["config"]) == {"TF-IDF"}
    try:
        got = protocol.run(there, configs, progress=False, scheduler="local:2")
        pd.testing.assert_frame_equal(got, ref)
        stored = sorted(p.name for p in (there.home_dir).rglob("*.json") if "p3" in p.parts)
        assert len(stored) == ref["dataset"].nunique(), stored  # one results file per dataset, written by the workers
        mtimes = {p: p.stat().st_mtime_ns for p in there.home_dir.rglob("*.json") if "p3" in p.parts}
        again = protocol.run(there, configs, progress=False, scheduler="local:2")
        pd.testing.assert_frame_equal(again, ref)
        assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # read back, nothing rewritten
    finally:
        scale.close_clients()
