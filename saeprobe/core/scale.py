"""The scale-out engine: the grids' tasks on joblib/loky here (default) or on a Dask cluster.

Every grid cell is a pure function of its inputs, stored once under a content key
(:mod:`saeprobe.core.store`), so a task that runs twice -- a worker died, two workers raced --
costs time, never correctness. :func:`run_tasks` runs ``fn(*args, **kwargs)`` for a list of calls
and yields the results as they finish, on

* ``scheduler`` None: joblib's loky processes on this machine (``n_jobs``), as before;
* ``"local:N"``: a Dask ``LocalCluster`` of N single-threaded worker processes (loopback only);
* ``"tcp://host:8786"`` (or ``host:8786``): a running Dask scheduler, whose workers were started
  with ``dask worker tcp://host:8786`` on any number of machines (each needs this package and
  the caches / results store it reads; see the README, "More than one machine").

:func:`scheduler_for` picks it: an explicit argument, else ``$SAEPROBE_SCHEDULER`` (what
``python -m saeprobe.book run --scheduler ADDRESS`` sets for the notebooks), else the profile's
``scale.scheduler``. A task's own arguments (e.g. its feature matrix) travel with the task, so the
scheduler can rerun it on another worker when one dies (data scattered to a single worker would die
with it); ``shared`` arguments are broadcast to every worker once. :func:`model_plugin` is a Dask worker plugin that loads the profile's model once
per worker process (:func:`saeprobe.core.models.load_profile_model` then returns it to every task);
:func:`gpu_resources` makes extraction tasks ask for a GPU where a worker offers one
(``dask worker ... --resources GPU=1``).

Ray is a documented alternative for the joblib path only: ``ray.util.joblib.register_ray()`` and
``with joblib.parallel_backend("ray"):`` around a run with ``scheduler`` None.
"""
from __future__ import annotations

import atexit
import logging
import os
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from saeprobe.core import models

__all__ = ["ENV_VAR", "scheduler_for", "get_client", "close_clients", "run_tasks", "model_plugin",
           "gpu_resources"]

log = logging.getLogger("saeprobe.scale")

#: Environment variable naming the scheduler (overrides the profile's ``scale.scheduler``).
ENV_VAR = "SAEPROBE_SCHEDULER"
_NONE = ("", "none", "joblib", "loky")
_CLIENTS: dict[str, Any] = {}
#: ``shared`` arguments bigger than this (bytes) are broadcast to the workers, not put in every task.
SCATTER_BYTES = 1 << 16


def scheduler_for(scheduler: str | None = None, profile: Any = None) -> str | None:
    """The scheduler to use: ``scheduler``, else ``$SAEPROBE_SCHEDULER``, else
    ``profile.scale.scheduler``; None (or ``"joblib"``) means joblib/loky on this machine."""
    for cand in (scheduler, os.environ.get(ENV_VAR),
                 getattr(getattr(profile, "scale", None), "scheduler", None)):
        if cand is not None and str(cand).strip():
            text = str(cand).strip()
            return None if text.lower() in _NONE else text
    return None


def _parse_local(address: str) -> int | None:
    if not address.startswith("local:"):
        return None
    try:
        n = int(address.split(":", 1)[1])
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"scheduler {address!r}: write local:N with N >= 1 worker processes (e.g. local:2)")
    return n


def get_client(address: str):
    """A Dask ``Client`` for ``address`` (``local:N`` starts a LocalCluster on loopback), reused by
    later calls in this process and closed at exit."""
    n_local = _parse_local(address)
    client = _CLIENTS.get(address)
    if client is not None and client.status == "running":
        return client
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError(f"scheduler {address!r} needs Dask: pip install 'saeprobe[dask]' "
                           "(dask[distributed])") from None
    if n_local is not None:
        cluster = LocalCluster(n_workers=n_local, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        target = address if "://" in address else f"tcp://{address}"
        try:
            client = Client(target, timeout="20s")
        except OSError as exc:
            raise RuntimeError(f"no Dask scheduler at {target} ({type(exc).__name__}); start one with "
                               "`dask scheduler` and workers with `dask worker ADDRESS`") from None
    _CLIENTS[address] = client
    return client


def close_clients() -> None:
    """Close every client (and LocalCluster) this process opened."""
    for address, client in list(_CLIENTS.items()):
        cluster = getattr(client, "cluster", None)
        try:
            client.close()
            if cluster is not None and address.startswith("local:"):
                cluster.close()
        except Exception:  # already gone
            pass
        _CLIENTS.pop(address, None)


atexit.register(close_clients)


def model_plugin(profile: Any, resource: str | None = None):
    """A Dask worker plugin that loads ``profile``'s model once per worker (at registration, or
    when the worker starts); tasks then get it from :func:`models.load_profile_model`. With
    ``resource`` (set by :func:`run_tasks` when its tasks ask for one) only the workers offering it
    load the model."""
    from distributed import WorkerPlugin

    class ModelPlugin(WorkerPlugin):
        name = f"saeprobe-model-{profile.model}-{profile.device}-{profile.dtype}"

        def __init__(self, prof, res):
            self.profile, self.resource = prof, res

        def setup(self, worker):
            if self.resource and self.resource not in worker.state.total_resources:
                return
            models.load_profile_model(self.profile)

    return ModelPlugin(profile, resource)


def gpu_resources(client, name: str = "GPU") -> dict | None:
    """``{name: 1}`` when some worker of ``client`` offers the resource ``name``, else None (a task
    asking for a resource no worker has would wait for ever)."""
    workers = client.scheduler_info().get("workers", {})
    if any(float((w.get("resources") or {}).get(name, 0)) >= 1 for w in workers.values()):
        return {name: 1}
    return None


def _big(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.nbytes > SCATTER_BYTES
    if hasattr(v, "tocsr") and hasattr(v, "data"):  # scipy sparse
        return getattr(v.data, "nbytes", 0) > SCATTER_BYTES
    return False


def run_tasks(fn: Callable, calls: Iterable[tuple[Sequence, dict]], *, scheduler: str | None = None,
              n_jobs: int = 2, resources: dict | str | None = None, plugin: Any = None,
              shared: dict | None = None) -> Iterator[Any]:
    """``fn(*args, **shared, **kwargs)`` for every ``(args, kwargs)`` in ``calls``; yields the results
    in the order they finish.

    Args:
        scheduler: None for joblib/loky (``n_jobs`` processes; 1 = in this process), else a Dask
            address (see the module docstring).
        resources: Dask resources each task needs (e.g. ``{"GPU": 1}``), or ``"gpu:NAME"`` for
            :func:`gpu_resources` (asked only where a worker has it). Ignored by joblib.
        plugin: a Dask worker plugin to register first (e.g. :func:`model_plugin`).
        shared: keyword arguments common to every call (on Dask scattered once, to every worker).
    """
    calls = [(tuple(a), dict(k)) for a, k in calls]
    shared = dict(shared or {})
    if not calls:
        return
    if scheduler is None:
        if n_jobs == 1 or len(calls) == 1:
            for a, k in calls:
                yield fn(*a, **shared, **k)
            return
        from joblib import Parallel, delayed

        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(fn)(*a, **shared, **k) for a, k in calls)
        return
    from distributed import as_completed

    client = get_client(scheduler)
    if isinstance(resources, str) and resources.startswith("gpu:"):
        resources = gpu_resources(client, resources.split(":", 1)[1])
    if plugin is not None:
        if hasattr(plugin, "resource"):
            plugin.resource = next(iter(resources)) if resources else None
        client.register_plugin(plugin)

    def put(v):  # a list of one: scatter would split a dict or list itself
        return client.scatter([v], broadcast=True, hash=False)[0]

    if shared:  # on every worker: a copy survives a worker's death
        shared = {k: put(v) if _big(v) or not _plain(v) else v for k, v in shared.items()}
    futures = []
    with warnings.catch_warnings():  # a task's own arrays travel with it ("large object in graph")
        warnings.simplefilter("ignore", UserWarning)
        for a, k in calls:
            futures.append(client.submit(fn, *a, **shared, **k, pure=False, resources=resources or None))
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, tuple, list))
