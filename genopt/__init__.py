"""genopt: genotype-to-phenotype variant selection with honest replication.

The flow (see ``DESIGN.md``): load PLINK filesets (:mod:`genopt.io`), align
them into a :class:`~genopt.cohort.Cohort`, quality-control them
(:mod:`genopt.qc`), compute ancestry axes (:mod:`genopt.structure`) and, in
tests and demos, simulate outcomes with a known truth (:mod:`genopt.simulate`).
"""

from genopt.errors import GenoptError

__version__ = "0.1.0"

__all__ = ["GenoptError", "__version__"]
