"""Results of finished ``genopt run`` steps, kept so that a killed run can be resumed.

A run directory's ``checkpoints/pipeline/`` holds one pickle per finished step
(the step's in-memory result: QC tables, PCA model, scan table, summary
parts) and ``fingerprint.json``, a SHA-256 of everything the results depend
on (the resolved config without the settings that leave results alone, the
inputs' SHA-256 and the genopt version). Every file is written atomically
(write then rename), after the step's own output files, so a step is either
recorded as finished with all its files in place, or redone.

``genopt run --resume`` reuses the recorded steps when the fingerprint
matches and refuses a directory made with other inputs or settings; without
``--resume`` any recorded steps are discarded and everything is recomputed.
The search keeps its own per-generation checkpoints
(:mod:`genopt.search.checkpoint`), so a run killed mid-search continues from
its last generation. Every step is deterministic given the config's seed, so a
resumed run writes the same files as an uninterrupted one (apart from the
timings and timestamps).

The pickles are read back only from the run directory the user names; like
any pickle, they must not come from an untrusted source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from genopt.errors import GenoptError
from genopt.io.atomic import atomic_path, write_text

log = logging.getLogger("genopt")

T = TypeVar("T")

#: Pickle protocol of the step files (fixed so the files do not depend on the Python default).
PROTOCOL = 5


def fingerprint(settings: dict[str, Any], inputs: dict[str, str], version: str) -> str:
    """SHA-256 (hex) of the settings, the inputs' SHA-256 and the genopt version.

    Parameters
    ----------
    settings
        JSON-ready resolved config, without settings that do not change any
        result (worker counts, schedulers, tracking).
    inputs
        Input path -> SHA-256 of its content.
    version
        genopt version: step results of another version are not reused.
    """
    doc = json.dumps({"settings": settings, "inputs": inputs, "genopt": version}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


def remove_stale_temporaries(run_dir: Path) -> int:
    """Delete the temporaries a killed writer left in ``run_dir`` (``.<name>.<random>.tmp``); return how many."""
    pattern = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")
    stale = [p for p in run_dir.rglob(".*.tmp") if p.is_file() and pattern.match(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def step_file_name(name: str) -> str:
    """File in ``checkpoints/pipeline/`` that records the step called ``name`` (``"PCA on x"`` -> ``pca_on_x.pkl``)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + ".pkl"


class StepRecord:
    """Finished steps of one ``genopt run`` in ``run_dir/checkpoints/pipeline/``.

    Parameters
    ----------
    run_dir
        The run directory.
    key
        :func:`fingerprint` of this run's settings and inputs.
    resume
        True: reuse the steps recorded under the same ``key`` (a record made
        under another key is refused). False: discard any record and start
        over.

    Raises
    ------
    GenoptError
        ``resume`` and the directory's record was made with other inputs or
        settings.
    """

    def __init__(self, run_dir: Path, key: str, resume: bool) -> None:
        self.folder = Path(run_dir) / "checkpoints" / "pipeline"
        self.key = key
        self.resume = resume
        self.reused: list[str] = []
        stamp = self.folder / "fingerprint.json"
        if resume and stamp.is_file():
            recorded = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
            if recorded != key:
                raise GenoptError(
                    "the run directory's finished steps were made with other inputs or settings "
                    f"(fingerprint {str(recorded)[:12]}, this run {key[:12]}); run without --resume to start over",
                    stamp,
                )
        elif not resume and self.folder.exists():
            shutil.rmtree(self.folder)
        if resume:
            removed = remove_stale_temporaries(Path(run_dir))
            if removed:
                log.info("removed %d temporary file(s) left by the interrupted run", removed)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(stamp, json.dumps({"fingerprint": key}, indent=2))

    def _path(self, name: str) -> Path:
        return self.folder / step_file_name(name)

    def run(self, name: str, compute: Callable[[], T]) -> tuple[T, float]:
        """The step's result and its compute time in seconds: recorded, or computed now and recorded.

        ``compute`` writes the step's own output files and returns what later
        steps need (picklable). The record is written after ``compute``
        returns, so a step killed half-way is redone on resume.
        """
        path = self._path(name)
        if self.resume and path.is_file():
            with open(path, "rb") as handle:
                value, seconds = pickle.load(handle)
            self.reused.append(name)
            log.info("  (finished in the interrupted run: reused)")
            return value, seconds
        start = time.perf_counter()
        value = compute()
        seconds = round(time.perf_counter() - start, 3)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            pickle.dump((value, seconds), handle, protocol=PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        return value, seconds
