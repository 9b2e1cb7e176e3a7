"""P1's grid on a real Dask cluster (saeprobe.core.scale + saeprobe.p1.runner), loopback only.

A LocalCluster of 2 worker processes runs a thinned smoke P1 grid (the smoke profile's real data,
splits, its TopK SAE and P1's probes: 3 datasets x 2 label-noise points x LR and the SAE probe at
two k) and must give the single-machine table; a worker SIGKILLed in the middle of a task group
leaves a grid that still completes with every cell stored exactly once and the killed worker's
finished cell not recomputed; a half-written cell and an orphaned temporary file are never read;
a rerun computes nothing.
"""
import json
import os
import signal

import pandas as pd
import pytest

pytest.importorskip("distributed")

from saeprobe import saes  # noqa: E402
from saeprobe.core import scale  # noqa: E402
from saeprobe.core.config import load_profile  # noqa: E402
from saeprobe.p1 import features as F  # noqa: E402
from saeprobe.p1 import runner  # noqa: E402

pytestmark = pytest.mark.real
SCHED = "local:2"


@pytest.fixture(scope="module")
def grid():
    prof = load_profile("smoke")
    names = prof.dataset_names()
    sae = F.main_sae_specs(prof)[0].name
    feats = F.load_features(prof, names, saes={sae: saes.get_sae(prof, sae, progress=False)})
    specs = [{"method": "lr"}] + runner.expand_methods(["sae"], saes=[sae], ks=[1, 16], ranking="normalized",
                                                        penalty="l1")
    splits = F.regime_splits(prof, "label_noise", feats)
    yield dict(regime="label_noise", datasets=names, specs=specs, splits=splits, features=feats, progress=False)
    scale.close_clients()


@pytest.fixture(scope="module")
def reference(grid, tmp_path_factory):
    return runner.run_regime(**grid, out_dir=tmp_path_factory.mktemp("single"), n_jobs=1)


def _cells(folder):
    """The stored cells (temporary files -- the planted orphan -- start with a dot and are never read)."""
    return sorted(p.name for p in (folder / "cells" / "label_noise").iterdir() if not p.name.startswith("."))


def _same(a, b):
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def _kill_on_second_cell():
    """Run inside one worker: its second probe fit SIGKILLs the worker process (mid-group)."""
    from saeprobe.p1 import runner as r

    real, calls = r.evaluate_cell, []

    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **k)

    r.evaluate_cell = dying
    return os.getpid()


def test_cluster_matches_single_machine_and_rerun_computes_nothing(grid, reference, tmp_path):
    n = len(reference)
    assert n == 3 * 2 * 3
    df = runner.run_regime(**grid, out_dir=tmp_path, scheduler=SCHED)
    assert df.attrs["n_computed"] == n
    _same(df, reference)
    assert len(scale.get_client(SCHED).scheduler_info()["workers"]) == 2
    again = runner.run_regime(**grid, out_dir=tmp_path, scheduler=SCHED)
    assert again.attrs["n_computed"] == 0
    _same(again, reference)


def test_worker_killed_mid_grid(grid, reference, tmp_path):
    client = scale.get_client(SCHED)
    keys = sorted(f"{k}.json" for k in reference["key"])
    cells = tmp_path / "cells" / "label_noise"
    cells.mkdir(parents=True)
    # a half-written cell where a real one belongs, and a dead writer's orphan: neither may be read
    (cells / keys[0]).write_text('{"version": 4, "key": "' + keys[0][:-5] + '", "test_auc": 0.5')
    (cells / f".{keys[1]}.abc123.tmp").write_text(json.dumps({"key": keys[1][:-5], "test_auc": -1}))
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(_kill_on_second_cell, workers=[victim])[victim]
    df = runner.run_regime(**grid, out_dir=tmp_path, scheduler=SCHED)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the victim is gone ...
    assert victim not in client.scheduler_info()["workers"]  # ... and the grid finished without it
    # every cell exactly once, the table equals the single-machine one (nothing half-written read)
    assert _cells(tmp_path) == keys and sorted(df["key"]) == sorted(reference["key"])
    _same(df, reference)
    for name in keys:
        assert json.loads((cells / name).read_text())["key"] == name[:-5]
    # the victim stored its first cell before dying; the rescheduled task found it, did not redo it
    assert df.attrs["n_computed"] == len(keys) - 1
    assert runner.run_regime(**grid, out_dir=tmp_path, scheduler=SCHED).attrs["n_computed"] == 0
