"""The one atomic writer: temp file + rename, nothing half-written, orphans swept."""
import os
import time

import pandas as pd
import pytest

from saeprobe.core import cache


def _tmp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_writers_write_and_leave_no_temp(tmp_path):
    cache.atomic_write_text(tmp_path / "a.txt", "hello")
    cache.atomic_write_json(tmp_path / "b.json", {"x": [1, 2]}, sort_keys=True)
    cache.atomic_write_parquet(pd.DataFrame({"a": [1, 2]}), tmp_path / "c.parquet")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert (tmp_path / "b.json").read_text() == '{"x": [1, 2]}'
    assert pd.read_parquet(tmp_path / "c.parquet")["a"].tolist() == [1, 2]
    assert _tmp_files(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "t.json"
    cache.atomic_write_text(target, "old")

    def boom(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        cache.atomic_write(target, boom)
    assert target.read_text() == "old" and _tmp_files(tmp_path) == []


def test_orphaned_temp_files_are_swept_on_the_next_write(tmp_path, monkeypatch):
    folder = tmp_path / "cells"
    folder.mkdir()
    old = folder / ".x.json.abc123.tmp"  # what a SIGKILLed writer leaves behind
    fresh = folder / ".y.json.def456.tmp"  # a writer still running in another process
    old.write_text("half")
    fresh.write_text("half")
    past = time.time() - cache.TEMP_MAX_AGE_S - 60
    os.utime(old, (past, past))
    monkeypatch.setattr(cache, "_swept", set())
    cache.atomic_write_text(folder / "z.json", "{}")
    assert not old.exists() and fresh.exists() and (folder / "z.json").exists()
    assert cache.sweep_orphans(folder, max_age_s=0) == [fresh]


def test_digest_and_results_dir(tmp_path):
    from saeprobe.core.config import load_profile

    assert cache.digest_texts(["a", "b"]) != cache.digest_texts(["ab"])  # separator matters
    assert cache.digest_texts(["a", "b"]) == cache.digest_texts(["a", "b"])
    prof = load_profile("smoke", home=str(tmp_path))
    assert cache.results_dir(prof, "p1") == tmp_path / "results" / "p1" / "smoke"
    with pytest.raises(ValueError, match="paper must be"):
        cache.results_dir(prof, "p4")
