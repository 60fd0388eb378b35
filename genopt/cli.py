"""Command-line interface: argument parsing only; every command is one call into the library.

Exit codes: 0 success, 1 user error (bad file, ID, value or option: one line
on stderr naming it), 2 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, NoReturn

from genopt import __version__
from genopt.errors import GenoptError

log = logging.getLogger("genopt")

EXIT_OK, EXIT_USER, EXIT_INTERNAL = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors reported as user errors (exit 1, one line)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: getattr(cls(), f.name) for f in fields(cls)}


def _override(config: Any, args: argparse.Namespace, names: Sequence[str]) -> Any:
    """Replace config fields by the command-line values that were given."""
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return replace(config, **given)


# --------------------------------------------------------------------------- commands


def _cmd_qc(args: argparse.Namespace) -> None:
    from genopt.config import QCConfig
    from genopt.io.plink import open_plink
    from genopt.qc import run_qc

    config = _override(QCConfig(), args, ["maf", "geno", "mind", "hwe"])
    fileset = open_plink(args.bfile)
    result = run_qc(fileset, Path(args.out), config)
    print(result.summary())


def _cmd_pca(args: argparse.Namespace) -> None:
    from genopt.config import PCAConfig
    from genopt.io.plink import open_plink
    from genopt.structure import run_pca

    config = PCAConfig()
    if args.pcs is not None:
        config = replace(config, n_pcs=args.pcs)
    fileset = open_plink(args.bfile)
    other = open_plink(args.project) if args.project else None
    model = run_pca(fileset, Path(args.out), config, project=other)
    print(f"{model.n_pcs} PCs from {model.n_variants} LD-pruned variants of {fileset.n_samples} samples -> {args.out}")


def _cmd_overlap(args: argparse.Namespace) -> None:
    from genopt.config import OverlapConfig
    from genopt.io.plink import open_plink
    from genopt.relatedness import find_overlap, write_overlap

    result = find_overlap(open_plink(args.prefix_a), open_plink(args.prefix_b), OverlapConfig())
    write_overlap(result, Path(args.out))
    print(result.summary())


def _cmd_simulate_bundle(args: argparse.Namespace) -> None:
    from genopt.simulate import make_bundle

    make_bundle(Path(args.shared), Path(args.out), seed=args.seed)
    print(f"bundled cohorts written to {args.out}")


def _cmd_run(args: argparse.Namespace) -> None:
    from genopt.pipeline import run_foundation

    report = run_foundation(Path(args.config), out=Path(args.out) if args.out else None)
    print(f"run finished: summary at {report}")


# --------------------------------------------------------------------------- parser


def _add_bfile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bfile", required=True, metavar="PREFIX", help="PLINK 1 fileset prefix (PREFIX.bed/.bim/.fam)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and documentation)."""
    from genopt.config import QCConfig

    qc_defaults = _defaults(QCConfig)
    parser = _Parser(
        prog="genopt",
        description="Genotype-to-phenotype variant selection with honest replication on held-out cohorts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"genopt {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("qc", _cmd_qc, "variant and sample QC with PLINK's --maf/--geno/--mind/--hwe meanings")
    _add_bfile(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--maf", type=float, help=f"drop variants with minor allele frequency < X (default {qc_defaults['maf']})")
    p.add_argument("--geno", type=float, help=f"drop variants with missing-call rate > X (default {qc_defaults['geno']})")
    p.add_argument("--mind", type=float, help=f"drop samples with missing-call rate > X (default {qc_defaults['mind']})")
    p.add_argument("--hwe", type=float, help=f"drop variants with HWE exact p < X (default {qc_defaults['hwe']})")

    p = command("pca", _cmd_pca, "LD-pruned PCA of one cohort, optionally projecting another onto its axes")
    _add_bfile(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--pcs", type=int, help="number of principal components (default from PCAConfig)")
    p.add_argument("--project", metavar="PREFIX", help="fileset to project onto the fitted axes")

    p = command("overlap", _cmd_overlap, "shared people and relatives between two cohorts (by ID and KING kinship)")
    p.add_argument("prefix_a", metavar="PREFIX_A")
    p.add_argument("prefix_b", metavar="PREFIX_B")
    p.add_argument("--out", required=True, metavar="FILE.tsv", help="pairs table (IID_A IID_B KINSHIP RELATION)")

    p = command("simulate", lambda a: None, "simulate outcomes and cohorts with a known truth")
    sim = p.add_subparsers(dest="sim_command", metavar="WHAT", required=True, parser_class=_Parser)
    b = sim.add_parser("bundle", help="regenerate the bundled cohorts in data/ from ../shared/data")
    b.set_defaults(func=_cmd_simulate_bundle)
    b.add_argument("--shared", required=True, metavar="DIR", help="the shared data folder (hapmap3/, kg1/)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--seed", type=int, default=1, help="random seed")

    p = command("run", _cmd_run, "run a whole workflow described by a TOML config")
    p.add_argument("config", metavar="CONFIG.toml")
    p.add_argument("--out", metavar="DIR", help="run directory (overrides the config's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genopt`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER
    try:
        args.func(args)
    except GenoptError as exc:
        print(f"genopt: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except OSError as exc:  # unreadable input, unwritable output, full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"genopt: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("genopt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user mistake
        if args.verbose:
            traceback.print_exc()
        print(
            f"genopt: internal error: {type(exc).__name__}: {exc} (please report; rerun with --verbose for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
