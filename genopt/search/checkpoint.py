"""Search checkpoints: what a killed search needs to continue to the same result.

A checkpoint is one JSON file, rewritten atomically (write-then-rename)
every ``every`` generations and once more when the search ends. It holds:

``format``
    :data:`FORMAT_VERSION`.
``engine``, ``seed``, ``budget``
    The run it belongs to.
``fingerprint``
    A caller-supplied string identifying the search inputs (e.g. a SHA-256
    of the config, the pool variant IDs and the outcome); a resume with
    another fingerprint is refused.
``initial``
    The warm-start candidates (empty for a random start).
``generation``
    The last generation (history row) completed; ``complete`` is true once
    the search has ended.
``evaluations``
    Every distinct candidate evaluated so far, in first-evaluation order:
    ``subset`` (pool column indices), ``family``, ``params`` (name, value
    pairs), ``fold_aucs`` and ``cached``. Floats are written with Python's
    shortest round-trip repr, so they are read back bit for bit.
``history``
    The history rows so far (:data:`genopt.search.engine.HISTORY_COLUMNS`).

Resuming is a deterministic replay (:mod:`genopt.search.engine`): the
engine reruns from the same seed and takes each candidate's result from the
checkpoint, in order, until the checkpoint is used up, then evaluates.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genopt.errors import GenoptError
from genopt.io.atomic import write_text
from genopt.search.types import Candidate, Evaluation

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointState",
    "fingerprint",
    "read_checkpoint",
    "same_history",
    "write_checkpoint",
]

#: Version of the checkpoint file layout.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """Where and how often a search checkpoints, and whether it resumes.

    Parameters
    ----------
    path
        The checkpoint file (JSON).
    fingerprint
        Identifies the search inputs; a resume with another is refused.
    every
        Write after every this many generations (history rows), and at the
        end of the search; 0: never write (only resume from ``path``).
    resume
        Continue from ``path`` if it exists (if it does not, start afresh);
        False: start afresh and overwrite it.
    """

    path: Path
    fingerprint: str
    every: int = 1
    resume: bool = False

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ValueError(f"checkpoint every must be >= 0, got {self.every}")

    def load(self, engine: str, seed: int, budget: int, initial: list[Candidate]) -> CheckpointState | None:
        """The state to resume from (None: start afresh).

        Raises
        ------
        GenoptError
            The file is unreadable, of another format version, or belongs
            to another search (engine, seed, budget, warm start or fingerprint differ).
        """
        if not self.resume or not Path(self.path).exists():
            return None
        state = read_checkpoint(self.path)
        mine = {"engine": engine, "seed": seed, "budget": budget, "initial": initial, "fingerprint": self.fingerprint}
        for key, value in mine.items():
            if getattr(state, key) != value:
                if key == "fingerprint":
                    what = "the search inputs (config, pool or outcome) differ"
                elif key == "initial":
                    what = "the warm-start candidates differ"
                else:
                    what = f"{key}: checkpoint {getattr(state, key)!r}, now {value!r}"
                raise GenoptError(
                    f"cannot resume: the checkpoint belongs to another search ({what}); "
                    "delete it or run without resume",
                    self.path,
                )
        return state


@dataclass
class CheckpointState:
    """The content of a checkpoint file (see the module docstring)."""

    engine: str
    seed: int
    budget: int
    fingerprint: str
    generation: int
    evaluations: list[Evaluation]
    history: list[dict[str, float]]
    initial: list[Candidate] = field(default_factory=list)
    complete: bool = False


def fingerprint(*parts: Any) -> str:
    """SHA-256 (hex) of the search inputs, for :attr:`Checkpoint.fingerprint`.

    Arrays (numpy, or anything with ``to_numpy``) are hashed by dtype, shape
    and bytes; anything else by its JSON form (keys sorted; objects JSON does
    not know, e.g. a frozen config dataclass, by ``repr``). Pass what must
    not change between a run and its resume (e.g. the search settings that
    shape the trajectory, the pool variant IDs, the outcome, the folds), not
    settings that do not change the result (``jobs``, ``scheduler``).
    """
    digest = hashlib.sha256()
    for part in parts:
        if hasattr(part, "to_numpy"):
            part = part.to_numpy()
        if isinstance(part, np.ndarray):
            # object arrays (e.g. of str) would hash their pointers: hash their text instead
            a = np.ascontiguousarray(part.astype(str) if part.dtype == object else part)
            digest.update(f"array {a.dtype.str} {a.shape}".encode())
            digest.update(a.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=repr).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {"subset": list(c.subset), "family": c.family, "params": [[k, v] for k, v in c.params]}


def _candidate(d: dict[str, Any]) -> Candidate:
    return Candidate(
        tuple(int(i) for i in d["subset"]), str(d["family"]), tuple((str(k), float(v)) for k, v in d["params"])
    )


def _number(value: Any) -> Any:
    """History values as JSON numbers (numpy scalars to Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_checkpoint(path: str | Path, state: CheckpointState) -> None:
    """Write ``state`` to ``path`` atomically (JSON; NaN and infinities as JSON's extensions)."""
    doc = {
        "format": FORMAT_VERSION,
        "engine": state.engine,
        "seed": state.seed,
        "budget": state.budget,
        "fingerprint": state.fingerprint,
        "generation": state.generation,
        "complete": state.complete,
        "initial": [_candidate_json(c) for c in state.initial],
        "evaluations": [
            {**_candidate_json(e.candidate), "fold_aucs": [float(a) for a in e.fold_aucs], "cached": bool(e.cached)}
            for e in state.evaluations
        ],
        "history": [{k: _number(v) for k, v in row.items()} for row in state.history],
    }
    write_text(path, json.dumps(doc, separators=(",", ":")) + "\n")


def read_checkpoint(path: str | Path) -> CheckpointState:
    """Read a checkpoint written by :func:`write_checkpoint`.

    Raises
    ------
    GenoptError
        Not valid JSON, another format version, or a missing/invalid field.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenoptError(f"cannot read the search checkpoint: {exc}", path) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise GenoptError(f"not a search checkpoint of format {FORMAT_VERSION} (format {found!r})", path)
    try:
        return CheckpointState(
            engine=str(doc["engine"]),
            seed=int(doc["seed"]),
            budget=int(doc["budget"]),
            fingerprint=str(doc["fingerprint"]),
            generation=int(doc["generation"]),
            complete=bool(doc["complete"]),
            initial=[_candidate(c) for c in doc["initial"]],
            evaluations=[
                Evaluation(_candidate(e), np.array(e["fold_aucs"], dtype=np.float64), cached=bool(e["cached"]))
                for e in doc["evaluations"]
            ],
            history=[{str(k): v for k, v in row.items()} for row in doc["history"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GenoptError(f"damaged search checkpoint ({type(exc).__name__}: {exc})", path) from exc


def same_history(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two history rows agree apart from ``seconds`` (NaN equals NaN)."""

    def same(x: Any, y: Any) -> bool:
        return bool(x == y) or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return set(a) - {"seconds"} == set(b) - {"seconds"} and all(same(a[k], b[k]) for k in a if k != "seconds")
