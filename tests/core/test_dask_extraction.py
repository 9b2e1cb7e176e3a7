"""Per-dataset activation extraction as Dask tasks (saeprobe.core.activations + saeprobe.core.scale),
on a real LocalCluster of 2 worker processes, loopback only: each worker loads the real model once
(the worker plugin), every dataset is one task, the cache entries equal the single-machine ones, and
a rerun submits nothing."""
import pytest
import torch

pytest.importorskip("distributed")

from saeprobe.core import activations as A  # noqa: E402
from saeprobe.core import scale  # noqa: E402
from saeprobe.core.config import load_profile  # noqa: E402

pytestmark = pytest.mark.real
SCHED = "local:2"
DATASETS = ("87_glue_cola", "5_hist_fig_ismale")


def _profile(home):
    return load_profile("smoke", home=str(home)).replace(datasets=DATASETS, ood_datasets=(), max_rows=8, max_len=16)


def test_extraction_on_a_cluster_equals_one_machine_and_rerun_submits_nothing(real_model, tmp_path, monkeypatch):
    from saeprobe.core import models

    here = _profile(tmp_path / "here")
    monkeypatch.setattr(models, "load_profile_model", lambda p: real_model)  # in this process only
    A.profile_activations(here, include_ood=False, progress=False, scheduler=None)

    there = _profile(tmp_path / "cluster")
    submitted = []
    real_run = scale.run_tasks

    def counting(fn, calls, **kw):
        calls = list(calls)
        submitted.append(len(calls))
        return real_run(fn, calls, **kw)

    monkeypatch.setattr(scale, "run_tasks", counting)
    try:
        summary = A.profile_activations(there, include_ood=False, progress=False, scheduler=SCHED)
        assert submitted == [2] and list(summary.n_rows) == [8, 8]
        assert len(scale.get_client(SCHED).scheduler_info()["workers"]) == 2
        for name in DATASETS:  # the workers wrote the cache; read it here without a model
            a = A.dataset_activations(here, name, progress=False)
            b = A.dataset_activations(there, name, progress=False)
            assert a.shape == b.shape == (8, 640)
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-2), float((a - b).abs().max())
        again = A.profile_activations(there, include_ood=False, progress=False, scheduler=SCHED)
        assert submitted == [2, 0] and list(again.n_rows) == [8, 8]  # everything cached: no task
    finally:
        scale.close_clients()
