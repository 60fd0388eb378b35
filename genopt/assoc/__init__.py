"""Association: per-variant logistic regression (score screening, exact Wald/Firth tests)."""

from genopt.assoc.logistic import ERROR_CODES, NullModel, VariantFit, fit_null, fit_variants, score_test
from genopt.assoc.scan import COLUMNS, AssocResult, lambda_gc, run_assoc, scan, score_chunk, write_assoc

__all__ = [
    "COLUMNS",
    "ERROR_CODES",
    "AssocResult",
    "NullModel",
    "VariantFit",
    "fit_null",
    "fit_variants",
    "lambda_gc",
    "run_assoc",
    "scan",
    "score_chunk",
    "score_test",
    "write_assoc",
]
