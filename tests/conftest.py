"""Shared test fixtures: paths to the real reference genotypes in ../shared/data.

CI gets a read-only copy of ``shared/`` beside the clone; set ``GENOPT_SHARED``
to point elsewhere. Tests write only into pytest's temporary directories.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GENOPT_SHARED", REPO.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HM3 = SHARED / "data" / "hapmap3" / "hm3"
KG1 = SHARED / "data" / "kg1" / "kg1"


@pytest.fixture(scope="session")
def hm3_prefix() -> Path:
    if not HM3.with_suffix(".bed").exists():
        pytest.fail(f"reference data not found at {HM3}; set GENOPT_SHARED")
    return HM3


@pytest.fixture(scope="session")
def kg1_prefix() -> Path:
    if not KG1.with_suffix(".bed").exists():
        pytest.fail(f"reference data not found at {KG1}; set GENOPT_SHARED")
    return KG1


def require_executable(name: str) -> str:
    """Path of a reference executable (plink2, plink1.9); fail if absent (CI installs them)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not on PATH; .ci/run installs it with apt-get")
    return path
