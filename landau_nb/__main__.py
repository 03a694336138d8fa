"""Command line: ``python -m landau_nb list | run | reproduce | summary`` (book: "Experiments").

Examples::

    python -m landau_nb list
    python -m landau_nb run anisotropic_d3 --solver sbtm --n 800 --seeds 0-4 --device cuda --out results
    python -m landau_nb reproduce --scale paper --device cuda --out results/paper
    python -m landau_nb summary anisotropic_d3 --out results

Every failure is one line on stderr (``--debug`` shows the traceback): bad arguments (an
empty or blank value included, an unusable ``--out``, a ``--scheduler`` where no Dask
scheduler answers) and requests that conflict with stored runs exit 2; failed (non-finite)
runs, file-system errors while running, damaged files and runs taken by another process exit
1; Ctrl-C exits 130 and SIGTERM 143, after saying how to resume (Ctrl-C while starting: 130).
"""

from __future__ import annotations

import argparse
import json
import sys

from ._version import __version__

_DTYPES = ("float32", "float64")


def _parser() -> argparse.ArgumentParser:
    from .experiments import EXPERIMENTS, SCALES, VLASOV_EXPERIMENTS
    p = argparse.ArgumentParser(prog="python -m landau_nb", description=(
        "Particle methods for the Landau equation: run the experiments of Section 5 of Ilin, Hu & Wang "
        "(2025). Results are written as .npz + .json under --out; interrupted runs resume."))
    p.add_argument("--version", action="version", version=f"landau_nb {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list the experiments and their sweeps")

    def common(q, scale_default="book"):
        q.add_argument("--scale", choices=SCALES, default=scale_default,
                       help="book: minutes on 2 CPU cores; paper: the paper's n and seeds (GPU)")
        q.add_argument("--device", default=None, help="cpu or cuda (default: cuda at paper scale if available)")
        q.add_argument("--dtype", choices=_DTYPES, default=None,
                       help="default: float32 on cuda and at paper scale, float64 otherwise")
        q.add_argument("--out", default=None, help="results folder (default: results/SCALE)")
        q.add_argument("--workers", type=int, default=None, help="parallel CPU processes (default: up to 2)")
        q.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local process pool (default) or a Dask cluster (--scheduler)")
        q.add_argument("--scheduler", default=None,
                       help="Dask scheduler address, e.g. tcp://HOST:8786 (default: $DASK_SCHEDULER_ADDRESS)")
        q.add_argument("--no-wait", action="store_true",
                       help="leave runs that another process is computing to it (exit 1) instead of waiting")
        q.add_argument("--ensemble", action="store_true",
                       help="run the SBTM seeds of each (solver, n) together, trainings fused "
                            "(same files, bit-identical on CPU; blob and runtime runs stay single)")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        q.add_argument("--debug", action="store_true", help="show tracebacks")

    r = sub.add_parser("run", help="run one experiment (or part of it)")
    r.add_argument("experiment", choices=sorted(EXPERIMENTS) + sorted(VLASOV_EXPERIMENTS), metavar="EXPERIMENT",
                   help="one of: " + ", ".join(list(EXPERIMENTS) + list(VLASOV_EXPERIMENTS)))
    r.add_argument("--solver", action="append", default=None,
                   help="a solver or sweep label (repeatable; default: all of the experiment)")
    r.add_argument("--n", type=int, action="append", default=None, help="particle count (repeatable)")
    r.add_argument("--seeds", default=None, help="e.g. 0-4 or 0,2,5 (default: the scale's)")
    r.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    common(r)

    rp = sub.add_parser("reproduce", help="run every experiment at a scale; records wall times")
    rp.add_argument("--only", default=None, help="comma-separated experiment names")
    common(rp)

    s = sub.add_parser("summary", help="print the error tables of finished runs")
    s.add_argument("experiment", choices=sorted(EXPERIMENTS), metavar="EXPERIMENT")
    s.add_argument("--scale", choices=SCALES, default="book")
    s.add_argument("--out", default=None)
    s.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _resolve(args):
    import os

    import torch

    from ._checks import check_device
    from .experiments.defaults import default_device, default_dtype, default_out
    scale = args.scale
    device = args.device or default_device(scale)
    if args.executor == "local":
        dev = check_device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: CUDA is not available on this machine (use --device cpu)")
    else:                       # the runs execute on the cluster's workers, which may have GPUs
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device={device!r} is not a valid torch device") from None
    dtype = getattr(torch, args.dtype) if args.dtype else default_dtype(scale, dev)
    out = args.out or str(default_out(scale))
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"workers={args.workers}: must be >= 1")
    _check_out(out)
    executor = args.executor
    if executor == "dask":
        executor = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not executor:
            raise ValueError("--executor dask needs --scheduler tcp://HOST:8786 (or DASK_SCHEDULER_ADDRESS)")
    elif args.scheduler:
        raise ValueError("--scheduler is used with --executor dask only")
    return device, dtype, out, executor


class _UsageError(ValueError):
    pass


def _check_blanks(args) -> None:
    """An empty or blank value is an error naming the option, never "not given" (``--out ""``
    would write into the current folder, ``--only ""`` run every experiment)."""
    for attr in ("out", "device", "scheduler", "seeds", "only"):
        value = getattr(args, attr, None)
        if value is not None and not value.strip():
            raise _UsageError(f"--{attr} {value!r} is empty; give a value or leave --{attr} out for its default")
    for value in getattr(args, "solver", None) or []:
        if not value.strip():
            raise _UsageError(f"--solver {value!r} is empty; give a solver or label, or leave --solver out for all")
    only = getattr(args, "only", None)
    if only is not None and any(not part.strip() for part in only.split(",")):
        raise _UsageError(f"--only {only!r} names an empty experiment; give comma-separated names")


def _check_out(out) -> None:
    """--out must be a writable folder (or creatable as one): say which path is wrong."""
    import os
    from pathlib import Path
    path = Path(out)
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                where = "is a file" if parent == path else f"lies under {parent}, which is a file"
                raise _UsageError(f"--out {out} {where}; give a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise _UsageError(f"--out {out}: {parent} is not writable (read-only or no permission)")
            break


def _print_summary(res) -> None:
    kind = res.experiment.kind
    print(res)
    if kind == "runtime":
        from .experiments import loglog_slope
        for lab, d in res.timing().items():
            print(f"{lab}: " + ", ".join(f"n={n}: {t * 1e3:.2f} ms" for n, t in d.items())
                  + f"; slope {loglog_slope(list(d), list(d.values())):.2f}")
        return
    problem = res.experiment.make_problem()
    keys = []
    if problem.has_closed_covariance:
        keys += [("cov_error", "end"), ("cov_error_sample", "end"), ("cov_error_sample", "max")]
    if problem.has_exact_solution:
        keys += [("score_error", "end"), ("kde_l2", "end")]
    for key, at in keys:
        try:
            print(res.table(key, at), end="\n\n")
        except (KeyError, ValueError):
            pass
    if not problem.has_closed_covariance and len(res.labels) > 1:
        try:
            print(res.reference_errors(), end="\n\n")
        except (KeyError, ValueError) as exc:
            print(f"no reference-error table: {exc}", end="\n\n")
    print(res.table("energy_drift", "end", reference=None))


def _run_vlasov(args, device, out) -> int:
    """``run`` for a Vlasov–Landau experiment: float64 unless --dtype says otherwise (momentum is
    conserved to round-off only there); prints each run's fitted rate, frequency and drifts."""
    import torch

    from .experiments import run_vlasov_experiment
    if args.ensemble or args.executor != "local":
        raise _UsageError("--ensemble and --executor dask are not used by the Vlasov–Landau experiments")
    seeds = None
    if args.seeds is not None:
        from .experiments import parse_seeds
        seeds = parse_seeds(args.seeds)
    dtype = getattr(torch, args.dtype) if args.dtype else torch.float64
    runs = run_vlasov_experiment(args.experiment, args.scale, out=out, labels=args.solver, ns=args.n, seeds=seeds,
                                 device=device, dtype=dtype, checkpoint_every=args.checkpoint_every,
                                 progress=not args.quiet)
    for stem, tr in runs.items():
        print(f"{args.experiment}/{stem}: {_vlasov_summary(tr)}")
    return 0


def _vlasov_summary(tr) -> str:
    """One line on a stored phase-space run: the fitted rate where the run has peaks to fit, the
    energy drift relative to the initial field energy where there is one (else absolute)."""
    import numpy as np
    try:
        rate = f"rate(0.2, 15) {tr.damping_rate()['rate']:.5f}"
    except ValueError:                   # a short run or a uniform plasma: no peaks of |E| to fit
        rate = "no rate fit"
    te = tr.records["total_energy"]
    fe0 = float(tr.records["field_energy"][0])
    drift = float(np.max(np.abs(te - te[0])))
    energy = (f"energy drift/FE0 {drift / fe0:.2e}" if fe0 > 1e-8 * abs(float(te[0]))
              else f"energy drift {drift:.2e} (no initial field)")
    return (f"{tr!r}; {rate}, max |E| {float(tr['E_norm'].max()):.4f}, momentum drift {tr.momentum_drift():.1e}, "
            f"{energy}, {tr.meta['run']['seconds']:.0f} s")


def _one_line(exc: BaseException) -> tuple[str, int]:
    """(message, exit status) for an exception that ends a command."""
    from .solver.checkpoint import CheckpointError
    from .experiments import RunConflictError, RunTakenError
    from .solver.trajectory import ResultFileError
    if isinstance(exc, ResultFileError):
        return f"damaged result file {exc}", 1
    if isinstance(exc, (RunConflictError, _UsageError)):
        return str(exc), 2
    if isinstance(exc, CheckpointError):
        return str(exc), 1
    if isinstance(exc, RunTakenError):
        return str(exc), 1
    if isinstance(exc, (ValueError, TypeError)):
        return str(exc), 2
    if isinstance(exc, OSError):
        import errno
        what = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            what += " (the disk is full: free space, then run the same command again to resume)"
        name = f"{exc.filename}: " if exc.filename else ""
        return f"{name}{what}", 1
    return f"{type(exc).__name__}: {exc}", 1


def main(argv=None) -> int:
    import signal

    from ._stop import quiet_start
    if signal.getsignal(signal.SIGINT) is quiet_start:       # set while `python -m landau_nb` started
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args = _parser().parse_args(argv)
        from .experiments import (EXPERIMENTS, VLASOV_EXPERIMENTS, Results, SweepInterrupted, parse_seeds,
                                  reproduce, run_experiment)
    except KeyboardInterrupt:
        print("python -m landau_nb: interrupted while starting; nothing was done", file=sys.stderr)
        return 130
    try:
        _check_blanks(args)
        if args.command == "list":
            for exp in EXPERIMENTS.values():
                print(exp.describe())
            for exp in VLASOV_EXPERIMENTS.values():
                print(exp.describe())
            return 0
        if args.command == "summary":
            import os
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                res = Results.load(args.out if args.out is not None else os.path.join("results", args.scale),
                                   args.experiment, scale=args.scale)
            for stem, what in res.incomplete:
                print(f"skipped incomplete run {stem}: {what}", file=sys.stderr)
            for stem, what in res.untrusted:
                print(f"skipped untrusted run {stem}: {what}", file=sys.stderr)
            for file, what in res.skipped:
                if file not in " ".join(w for _, w in res.incomplete + res.untrusted):
                    print(f"skipped {file}: {what}", file=sys.stderr)
            for stem, version in res.other_version:
                print(f"note: run {stem} was written by landau_nb {version} (this is {__version__})",
                      file=sys.stderr)
            if not res.runs:
                raise ValueError(f"no finished runs of {args.experiment} under {res.folder}")
            _print_summary(res)
            return 0
        device, dtype, out, executor = _resolve(args)
        if args.command == "run":
            from ._checks import check_request_size
            for n in args.n or []:
                if n < 2:
                    raise ValueError(f"n={n}: need at least 2 particles")
                check_request_size(n=n)
            if args.experiment in VLASOV_EXPERIMENTS:
                return _run_vlasov(args, device, out)
            seeds = parse_seeds(args.seeds) if args.seeds is not None else None
            res = run_experiment(args.experiment, args.scale, out=out, device=device, dtype=dtype,
                                 labels=args.solver, ns=args.n, seeds=seeds, workers=args.workers,
                                 checkpoint_every=args.checkpoint_every, progress=not args.quiet,
                                 executor=executor, wait=not args.no_wait, ensemble=args.ensemble)
            _print_summary(res)
            for stem, owner in res.taken:
                print(f"run {stem} is taken by {owner}; not waited for (--no-wait)", file=sys.stderr)
            return 1 if res.failed or res.taken else 0
        only = [s.strip() for s in args.only.split(",")] if args.only else None
        record = reproduce(args.scale, out=out, device=device, dtype=dtype, only=only, workers=args.workers,
                           progress=not args.quiet, executor=executor, ensemble=args.ensemble)
        print(json.dumps(record, indent=1))
        return 1 if any(e["failed"] for e in record["experiments"].values()) else 0
    except KeyboardInterrupt as exc:
        if getattr(args, "debug", False):
            raise
        signum = getattr(exc, "signum", 2)
        detail = f"{exc}; " if isinstance(exc, SweepInterrupted) else "interrupted; "
        print(f"python -m landau_nb: {detail}run the same command again to resume", file=sys.stderr)
        return 128 + int(signum)
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        message, code = _one_line(exc)
        print(f"python -m landau_nb: error: {' '.join(message.split())}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
