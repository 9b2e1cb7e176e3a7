"""The README's "Use the package" block runs as written, on the real model (smoke profile)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> str:
    text = README.read_text()
    m = re.search(r"<!-- readme-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README lost its readme-snippet block"
    return m.group(1)


def test_snippet_is_short():
    lines = [ln for ln in _snippet().splitlines() if ln.strip()]
    assert len(lines) <= 11, lines  # imports + the path in <= 8 lines


@pytest.mark.real
def test_readme_snippet_runs():
    res = subprocess.run([sys.executable, "-c", _snippet()], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert out.count("TextProbe(") == 2 and "test AUC" in out and "SAE probe, 4 latents" in out, out


def test_texts_where_a_dataset_name_belongs_is_one_line():
    from saeprobe import load_profile
    from saeprobe.core.activations import dataset_activations

    with pytest.raises(TypeError, match="text_activations"):
        dataset_activations(load_profile("smoke"), ["my text", "another"])
