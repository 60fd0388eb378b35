"""Replication of a frozen discovery model on held-out cohorts.

* :mod:`genopt.replicate.apply`: apply ``model.json`` to a cohort (harmonise,
  impute with discovery means, project PCs with discovery loadings, score);
* :mod:`genopt.replicate.stats`: score- and variant-level statistics, meta-analysis, the verdict;
* :mod:`genopt.replicate.run`: overlap check, orchestration and the files
  ``replication/<cohort>/summary.json``, ``replication/<cohort>/variants.tsv``,
  ``replication/<cohort>/scores.tsv``,
  ``replication/meta.tsv`` and ``replication/meta.json``.
"""

from genopt.replicate.apply import AppliedModel, apply_model
from genopt.replicate.run import (
    ReplicationResult,
    RunFiles,
    analyse,
    check_overlap,
    load_run,
    meta_table,
    replicate,
    replicate_many,
    score_meta,
)

__all__ = [
    "AppliedModel",
    "ReplicationResult",
    "RunFiles",
    "analyse",
    "apply_model",
    "check_overlap",
    "load_run",
    "meta_table",
    "replicate",
    "replicate_many",
    "score_meta",
]
