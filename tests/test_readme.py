"""The README's Python example runs as written (from the repository root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs() -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no Python example"
    code = blocks[0] + "\nassert coords.shape == (len(held.y), 10)\nassert qc.variant_pass.sum() > 10_000\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    assert "4000 of 4000 samples kept" in proc.stdout


def test_readme_selector_example_runs() -> None:
    text = (REPO / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "GeneticSelector" in b]
    assert len(blocks) == 1, "README has no GeneticSelector example"
    code = blocks[0] + "\nassert set(np.flatnonzero(sel.get_support())) >= {3, 11}\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "validation AUC" in proc.stdout
