"""The experiments of Section 5 of the paper: a registry, a resumable runner and summaries.

Each :class:`Experiment` holds the paper's problem and hyper-parameters and two scales:
``"paper"`` (n = 100·2^k as in the paper, several seeds; meant for a GPU) and ``"book"``
(a few particle counts, minutes on two CPU cores; the book's stored outputs). SBTM and the
blob method share the initial sample of each (n, seed): both draw it from the same seeded
stream (book: "Particles and conservation").

Runs are written as ``OUT/EXPERIMENT/LABEL/n000100_seed0.npz`` + ``.json``; a run that is
interrupted continues from its last checkpoint (``.ckpt`` folder next to it) and ends
bit-identical on CPU to an uninterrupted one. A run's identity is its full settings
(:func:`run_identity`): a stored run is reused only when the identity matches, otherwise
:class:`RunConflictError` names the difference. Each run is computed under a lock
(``.lock`` next to it), so several processes or machines can share one folder; the executor
is pluggable (:mod:`landau_nb.executors`). Book: the chapters of Part "Experiments".
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ._checks import MAX_RUNS, check_choice, check_int, check_request_size
from ._version import __version__
from .checkpoint import CheckpointError, remove_checkpoint
from .locks import RunLock, RunTakenError
from .problems import get_problem, problem_from_params
from .trajectory import ResultFileError, Trajectory, environment_versions

__all__ = ["Sweep", "Experiment", "RunSpec", "EXPERIMENTS", "SCALES", "get_experiment",
           "run_experiment", "reproduce", "Results", "paper_results", "settings", "loglog_slope", "parse_seeds",
           "anisotropy", "covariance_sampling_floor", "run_identity", "rerun_stored", "RunConflictError",
           "SweepInterrupted", "RunTakenError"]


class RunConflictError(ValueError):
    """A stored run (or its checkpoint) was computed with other settings than those asked now."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by SIGINT (Ctrl-C) or SIGTERM; running runs kept their last checkpoint.
    Attributes: ``signum``, ``finished`` (runs done), ``pending`` (runs left)."""

    def __init__(self, message, signum, finished=0, pending=0):
        super().__init__(message)
        self.signum, self.finished, self.pending = signum, finished, pending

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)

SCALES = ("book", "paper")


def _paper_ns(kmax: int) -> tuple[int, ...]:
    return tuple(100 * 2**k for k in range(kmax + 1))


@dataclass(frozen=True)
class Sweep:
    """One line of an experiment: a solver (with options) over particle counts and seeds."""

    label: str
    solver: str
    ns: tuple
    seeds: tuple
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment (what the runner executes and where it writes)."""

    experiment: str
    label: str
    solver: str
    n: int
    seed: int
    problem: dict
    options: dict
    solve: dict

    @property
    def stem(self) -> str:
        return f"{self.label}/n{self.n:06d}_seed{self.seed}"


@dataclass(frozen=True)
class Experiment:
    """A numerical experiment of the paper.

    name, title, paper : identifier, one-line title, where it is in the paper.
    problem : keyword arguments of :func:`landau_nb.problems.get_problem` (incl. ``name``).
    options : estimator options per solver (the paper's hyper-parameters).
    solve : extra :func:`landau_nb.solve` arguments per scale (e.g. ``t_end``, ``kde_l2``).
    scales : the sweeps of each scale.
    kind : "accuracy" (full runs) or "runtime" (a few timed steps per n).
    """

    name: str
    title: str
    paper: str
    problem: dict
    options: dict
    scales: dict
    solve: dict = field(default_factory=dict)
    kind: str = "accuracy"

    def make_problem(self):
        kw = dict(self.problem)
        return get_problem(kw.pop("name"), **kw)

    def sweeps(self, scale: str) -> tuple:
        check_choice("scale", scale, SCALES)
        return self.scales[scale]

    def runs(self, scale: str = "book", *, labels=None, ns=None, seeds=None) -> list[RunSpec]:
        """The runs of ``scale``, optionally restricted to some labels (or solver names),
        particle counts and seeds. ``ns``/``seeds`` given for labels whose sweep does not
        list them add those runs (the CLI's ``--n`` and ``--seeds``)."""
        problem = self.make_problem().params()
        solve_kw = dict(self.solve.get(scale, {}))
        sweeps = self.sweeps(scale)
        if isinstance(labels, str):
            labels = [labels]
        if labels is not None:
            known = {s.label for s in sweeps} | {s.solver for s in sweeps}
            for lab in labels:
                check_choice("solver", lab, tuple(sorted(known)))
            sweeps = [s for s in sweeps if s.label in labels or s.solver in labels]
        ns = None if ns is None else list(dict.fromkeys(int(n) for n in ns))
        seeds = None if seeds is None else list(dict.fromkeys(int(s) for s in seeds))
        total = sum(len(sw.ns if ns is None else ns) * len(sw.seeds if seeds is None else seeds) for sw in sweeps)
        check_request_size(runs=total, what=f"experiment {self.name}")
        out = {}
        for sw in sweeps:
            opts = {**self.options.get(sw.solver, {}), **sw.options}
            for n in dict.fromkeys(sw.ns if ns is None else ns):
                for seed in dict.fromkeys(sw.seeds if seeds is None else seeds):
                    spec = RunSpec(self.name, sw.label, sw.solver, int(n), int(seed), problem, opts, solve_kw)
                    out.setdefault(spec.stem, spec)          # a run is requested once
        return list(out.values())

    def describe(self) -> str:
        lines = [f"{self.name}: {self.title} ({self.paper})", f"  problem: {self.problem}"]
        for scale in SCALES:
            for sw in self.sweeps(scale):
                lines.append(f"  [{scale}] {sw.label}: n = {list(sw.ns)}, seeds = {list(sw.seeds)}"
                             + (f", options {sw.options}" if sw.options else ""))
        return "\n".join(lines)


# --- the registry (paper §5; hyper-parameters of §5.1) -----------------------------------------

_SBTM = {"lr": 4e-4, "K": 25, "alpha": 0.4, "width": 100, "depth": 1}
_PAPER_SEEDS = (0, 1, 2, 3, 4)


def _both(book_sbtm, book_blob, book_seeds, paper_kmax=7, paper_kmax_blob=None, sbtm_opts=None,
          authors_blob=False):
    """Book and paper sweeps for SBTM and blob sharing the initial samples. ``authors_blob``:
    at paper scale also the blob method with the bandwidth rule of the authors' code
    (GradientFlows.jl ``blob_bandwidth``, rule ``"reference"``), label ``blob_authors``."""
    sbtm_opts = sbtm_opts or {}
    paper = (Sweep("sbtm", "sbtm", _paper_ns(paper_kmax), _PAPER_SEEDS, sbtm_opts),
             Sweep("blob", "blob", _paper_ns(paper_kmax_blob or paper_kmax), _PAPER_SEEDS))
    if authors_blob:
        paper += (Sweep("blob_authors", "blob", _paper_ns(paper_kmax_blob or paper_kmax), _PAPER_SEEDS,
                        {"bandwidth": "reference"}),)
    return {
        "book": (Sweep("sbtm", "sbtm", tuple(book_sbtm), tuple(book_seeds), sbtm_opts),
                 Sweep("blob", "blob", tuple(book_blob), tuple(book_seeds))),
        "paper": paper,
    }


EXPERIMENTS: dict[str, Experiment] = {}


def _register(e: Experiment) -> Experiment:
    EXPERIMENTS[e.name] = e
    return e


_register(Experiment(
    name="bkw", title="BKW solution, Maxwellian molecules, d = 3", paper="Example 5.1, Fig. 5.2",
    problem={"name": "bkw", "d": 3},
    options={"sbtm": {**_SBTM, "depth": 2, "init_tol": 1e-3, "init_lr": 1e-2}, "blob": {"bandwidth": "paper"}},
    solve={"book": {"kde_l2": True, "save_every": 100, "kde_samples": 2**13},
           "paper": {"kde_l2": True, "save_every": 50, "kde_samples": 2**15}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0], authors_blob=True),
))

_register(Experiment(
    name="anisotropic_d3", title="Anisotropic Gaussian start, Maxwellian molecules, d = 3",
    paper="Example 5.2, Fig. 5.3",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0, 1], authors_blob=True),
))

_register(Experiment(
    name="anisotropic_d10", title="Anisotropic Gaussian start, Maxwellian molecules, d = 10",
    paper="Example 5.2, Fig. 5.4",
    problem={"name": "anisotropic_gaussian", "d": 10, "gamma": 0.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0], paper_kmax=8, authors_blob=True),
))

_register(Experiment(
    name="coulomb_d3", title="Anisotropic Gaussian start, Coulomb kernel, d = 3",
    paper="Example 5.3, Fig. 5.5",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": -3.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 800], [100, 200, 400, 800], [0], authors_blob=True),
))

_register(Experiment(
    name="learning_rate", title="Under-fitting at a low learning rate and the adaptive strategy (BKW, d = 3)",
    paper="§5.1, Fig. 5.1",
    problem={"name": "bkw", "d": 3},
    options={"sbtm": {**_SBTM, "depth": 2, "init_tol": 1e-3, "init_lr": 1e-2, "record_losses": True}},
    solve={"book": {"t_end": 6.5}, "paper": {}},
    scales={
        scale: tuple(Sweep(f"sbtm_lr{lr:g}" + ("_adaptive" if ad else ""), "sbtm", ns, seeds,
                           {"lr": lr, "adaptive": ad, "max_steps": 200})
                     for ad in (False, True) for lr in (4e-4, 1e-4))
        for scale, ns, seeds in (("book", (100,), (0,)), ("paper", (1600,), (0,)))
    },
))

# Ablation of SBTM's bias on BKW (book: "The BKW solution", section "What makes SBTM's score
# biased here"): each sweep changes ONE option of the bkw SBTM settings, or (n_...) only n. Over [5.5, 7.5], where the
# bias appears; no KDE (the score error, entropy rate and fourth moment are what is compared).
_BKW_ABLATION = (("baseline", {}), ("alpha_0.1", {"alpha": 0.1}), ("alpha_0.6", {"alpha": 0.6}),
                 ("init_tol_1e-4", {"init_tol": 1e-4}), ("lr_1e-3", {"lr": 1e-3}),
                 ("loss_weighted_denoising", {"loss": "weighted_denoising"}),
                 ("loss_implicit", {"loss": "implicit"}))

_register(Experiment(
    name="bkw_ablation", title="What causes SBTM's bias on BKW: one option changed at a time (d = 3)",
    paper="Example 5.1, Fig. 5.2 (ablation, not in the paper)",
    problem=dict(EXPERIMENTS["bkw"].problem),
    options={"sbtm": dict(EXPERIMENTS["bkw"].options["sbtm"])},
    solve={"book": {"t_end": 7.5, "save_every": 10}, "paper": {"t_end": 7.5, "save_every": 10}},
    scales={scale: tuple(Sweep(label, "sbtm", (n,), (0,), opts) for label, opts in _BKW_ABLATION)
            + (Sweep(f"n_{4 * n}", "sbtm", (4 * n,), (0,), {}),)      # the baseline with 4x the particles
            for scale, n in (("book", 200), ("paper", 1600))},
))

_RUNTIME_SBTM = {**_SBTM, "init_tol": 1e-2, "init_lr": 1e-2}

_register(Experiment(
    name="runtime", title="Time per step vs n, Maxwellian molecules, d = 3", paper="§5.4, Fig. 5.6 (left)",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0},
    options={"sbtm": _RUNTIME_SBTM, "blob": {"bandwidth": "paper"}},
    solve={"book": {"t_end": 0.06}, "paper": {"t_end": 0.1}},
    scales=_both([100, 200, 400, 800, 1600, 3200], [100, 200, 400, 800, 1600, 3200], [0]),
    kind="runtime",
))

_register(Experiment(
    name="runtime_heat", title="Time per step vs n, heat equation, d = 3", paper="§5.4, Fig. 5.6 (right)",
    problem={"name": "heat", "d": 3},
    options={"sbtm": _RUNTIME_SBTM, "blob": {"bandwidth": "paper"}},
    solve={"book": {"t_end": 1.06}, "paper": {"t_end": 1.1}},
    scales=_both([100, 400, 1600, 6400], [100, 400, 1600], [0], paper_kmax=10, paper_kmax_blob=8),
    kind="runtime",
))


def paper_results(name: str, folder=None) -> "Results":
    """The committed paper-scale runs of experiment ``name`` (``results/paper`` of the
    repository, or ``folder``), as :class:`Results`; nothing is computed. ``.missing()``
    names registered runs not there yet, ``.provenance()`` who made them. Book: the
    "At the paper's scale" section of each experiment chapter."""
    get_experiment(name)
    base = Path(folder) if folder is not None else _project_root() / "results" / "paper"
    if not (base / name).is_dir():
        raise FileNotFoundError(2, f"no paper-scale runs of {name!r} here (they are committed in the "
                                   "repository's results/paper/; `python -m landau_nb reproduce --scale paper` "
                                   "makes them)", str(base / name))
    return Results.load(base, name, scale="paper")


def get_experiment(name: str) -> Experiment:
    check_choice("experiment", name, tuple(EXPERIMENTS))
    return EXPERIMENTS[name]


# --- running ---------------------------------------------------------------------------------

def _project_root() -> Path:
    """The repository root (the nearest folder up from here holding ``_toc.yml`` and
    ``landau_nb/``), so a notebook running in ``book/`` and the command line run from the root
    share ``results/``; the current folder outside a checkout."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists() and (folder / "landau_nb").is_dir():
            return folder
    return here


def settings(scale: str | None = None) -> dict:
    """Run settings for the book's experiment chapters, from the environment:
    ``LANDAU_SCALE`` ("book", the default, or "paper"), ``LANDAU_DEVICE`` (default "cpu" at
    book scale, "cuda" if available at paper scale), ``LANDAU_RESULTS`` (a results folder;
    default a fresh temporary folder at book scale, so every execution recomputes, and
    ``results/paper`` of the repository at paper scale, where the chapters load the committed
    runs with :func:`paper_results` and the command line writes them). Book scale runs in
    float64, paper scale in float32 (on a GPU or a CPU: the committed paper-scale runs are
    float32)."""
    scale = check_choice("LANDAU_SCALE", scale or os.environ.get("LANDAU_SCALE", "book"), SCALES)
    default_dev = "cuda" if scale == "paper" and torch.cuda.is_available() else "cpu"
    device = os.environ.get("LANDAU_DEVICE", default_dev)
    out = os.environ.get("LANDAU_RESULTS")
    if out is None:
        out = tempfile.mkdtemp(prefix="landau-") if scale == "book" else str(_project_root() / "results" / scale)
    dtype = torch.float32 if scale == "paper" or torch.device(device).type == "cuda" else torch.float64
    return {"scale": scale, "device": device, "dtype": dtype, "out": out}


def run_identity(spec: RunSpec, scale: str, device, dtype) -> dict:
    """The full settings of a run: what must match for a stored run (or its checkpoint) to be
    reused. Experiment, scale, label, solver and its options, problem, n, seed, dtype, device
    kind, stepper, the other solve arguments and the package version."""
    ident = {"experiment": spec.experiment, "scale": scale, "label": spec.label, "solver": spec.solver,
             "options": spec.options, "problem": spec.problem, "n": spec.n, "seed": spec.seed,
             "dtype": str(dtype).replace("torch.", ""), "device": torch.device(device).type,
             "stepper": spec.solve.get("stepper", "euler"), "solve": spec.solve, "landau_nb": __version__}
    return json.loads(json.dumps(ident, sort_keys=True, default=float))


def _identity_difference(stored, asked: dict) -> str:
    """'dtype: stored float32, asked float64; ...' (empty when equal)."""
    if not isinstance(stored, dict):
        return "it has no recorded settings (written by an older landau_nb)"
    diff = [k for k in sorted(set(stored) | set(asked)) if stored.get(k) != asked.get(k)]
    return "; ".join(f"{k}: stored {stored.get(k)!r}, asked {asked.get(k)!r}" for k in diff)


def _paths(out, spec: RunSpec) -> dict:
    base = Path(out) / spec.experiment / spec.stem
    return {"base": base, "npz": base.with_name(base.name + ".npz"), "json": base.with_name(base.name + ".json"),
            "ckpt": base.with_name(base.name + ".ckpt"), "lock": base.with_name(base.name + ".lock"),
            "failed": base.with_name(base.name + "-failed")}


def _stored_state(paths: dict, identity: dict) -> str | None:
    """'done' if a matching finished run is stored, None if there is none (or only one half of
    the pair, which a kill between the two renames leaves: the run is then resumed). Raises
    :class:`RunConflictError` for a run or checkpoint with other settings and
    :class:`ResultFileError` for an unreadable result."""
    js = paths["json"]
    if js.exists() and paths["npz"].exists():
        try:
            meta = json.loads(js.read_text())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ResultFileError(js, f"not valid JSON ({exc}); delete it and its .npz to recompute") from None
        if not isinstance(meta, dict):
            raise ResultFileError(js, f"metadata must be a JSON object, got {type(meta).__name__}")
        run = meta.get("run")
        stored = run.get("identity") if isinstance(run, dict) else None
        diff = _identity_difference(stored, identity)
        if diff:
            raise RunConflictError(f"run {paths['base']} was computed with other settings ({diff}); "
                                   "use another --out, or delete the run to recompute it")
        return "done"
    run_json = paths["ckpt"] / "run.json"
    if run_json.exists():
        try:
            stored = json.loads(run_json.read_text())
        except (UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{run_json}: not valid JSON ({exc}); delete {paths['ckpt']} to start afresh") from None
        diff = _identity_difference(stored, identity)
        if diff:
            raise RunConflictError(f"the checkpoint {paths['ckpt']} belongs to a run with other settings ({diff}); "
                                   "use another --out, or delete the checkpoint")
    return None


def _leftovers(paths: dict) -> bool:
    """A checkpoint folder or lock file next to a finished run (its writer was killed while
    cleaning up): the run is finished, but these still need removing under the lock."""
    return paths["ckpt"].exists() or paths["lock"].exists()


class _Stopped(Exception):
    pass


def _set_threads(threads: int) -> None:
    """torch's thread count for a run, set after numba's thread pool is up: the pool's first
    launch (the first numba kernel of a process) resets the count, so the first run of a
    worker would otherwise compute, and record, another thread count than the later ones."""
    from .pairsum import _set_threads as sync_numba
    torch.set_num_threads(threads)
    sync_numba()


def _run_one(spec: RunSpec, out: str, device: str, dtype: str, checkpoint_every: int, threads: int | None,
             progress: bool, scale: str = "book", wait: bool = True, stop_file: str | None = None) -> dict:
    """Run (or resume, or load) one run under its lock; returns a status dict ("done",
    "failed", "taken", "interrupted"). Executed in worker processes (local pool or Dask)."""
    from .executors import stop_requested
    from .solve import NonFiniteError, solve

    def should_stop():
        return stop_requested() or (stop_file is not None and os.path.exists(stop_file))

    if threads is not None:
        _set_threads(threads)
    paths = _paths(out, spec)
    identity = run_identity(spec, scale, device, dtype)
    if should_stop():
        return {"stem": spec.stem, "status": "interrupted"}
    if _stored_state(paths, identity) == "done" and not _leftovers(paths):
        return {"stem": spec.stem, "status": "done", "loaded": True}
    lock = RunLock(paths["lock"])
    while not lock.try_acquire():
        if not wait:
            return {"stem": spec.stem, "status": "taken", "owner": lock.describe_owner()}
        if should_stop():
            return {"stem": spec.stem, "status": "interrupted"}
        time.sleep(0.25)
    try:
        if _claim(paths, identity) == "done":
            return {"stem": spec.stem, "status": "done", "loaded": True}
        ckpt = paths["ckpt"]

        def poll(k, *args):
            if should_stop():
                raise _Stopped

        problem = problem_from_params(spec.problem)
        started = time.perf_counter()
        try:
            traj = solve(problem, spec.solver, n=spec.n, seed=spec.seed, device=device,
                         dtype=getattr(torch, dtype), checkpoint=ckpt, checkpoint_every=checkpoint_every,
                         progress=progress, callback=poll, **spec.solve, **spec.options)
        except _Stopped:
            return {"stem": spec.stem, "status": "interrupted"}
        except NonFiniteError as exc:
            exc.trajectory.meta["error"] = str(exc)
            exc.trajectory.meta["run"] = {"identity": identity}
            exc.trajectory.save(paths["failed"])
            return {"stem": spec.stem, "status": "failed", "error": str(exc)}
        _save_run(spec, traj, paths, identity, time.perf_counter() - started)
        return {"stem": spec.stem, "status": "done", "loaded": False}
    finally:
        lock.release()


def _claim(paths: dict, identity: dict) -> str | None:
    """With the run's lock held: remove temporary files of a killed holder, and either finish
    the clean-up of a run stored meanwhile ('done') or prepare its checkpoint folder (None)."""
    from .checkpoint import _own_or_orphan
    for tmp in paths["base"].parent.glob(f".{paths['base'].name}*.tmp"):    # left by a killed holder
        if _own_or_orphan(tmp.name):
            tmp.unlink(missing_ok=True)
    ckpt = paths["ckpt"]
    if _stored_state(paths, identity) == "done":   # finished meanwhile, or killed while cleaning up
        (ckpt / "run.json").unlink(missing_ok=True)
        remove_checkpoint(ckpt)
        return "done"
    ckpt.mkdir(parents=True, exist_ok=True)
    if not (ckpt / "run.json").exists():
        from .locks import atomic_write
        text = json.dumps(identity, indent=1, sort_keys=True).encode()
        atomic_write(ckpt / "run.json", lambda fh: fh.write(text))
    return None


def _save_run(spec: RunSpec, traj: Trajectory, paths: dict, identity: dict, seconds: float,
              ensemble: dict | None = None) -> None:
    """Save a finished run (with the lock held) and remove its checkpoint."""
    from .provenance import compact, provenance
    traj.meta["run"] = {"experiment": spec.experiment, "label": spec.label, "threads": torch.get_num_threads(),
                        "seconds": seconds, "identity": identity,
                        "provenance": provenance(identity["device"], seconds=seconds)}
    if ensemble is not None:
        traj.meta["run"]["ensemble"] = ensemble
    if identity["scale"] == "paper":        # committed under results/paper: keep it small
        # positions of seed 0 only, and none for the timing runs (nothing plots them)
        compact(traj, keep_positions=spec.seed == 0 and get_experiment(spec.experiment).kind != "runtime")
    traj.save(paths["base"])
    (paths["ckpt"] / "run.json").unlink(missing_ok=True)
    remove_checkpoint(paths["ckpt"])


def _until_members_stop(halt, call):
    """``call()`` in a helper thread, this thread waiting for it. Ctrl-C or SIGTERM (raised
    in this thread) sets ``halt``, which the members poll once per step, and waits for them
    to stop before re-raising: their locks are released only once nothing writes their
    checkpoints any more."""
    box: dict = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = call()
        except BaseException as exc:               # noqa: BLE001 - re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="ensemble", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except BaseException:
        halt.set()
        while not done.is_set():     # (not Thread.join: an interrupted join may return early)
            time.sleep(0.05)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def _ensemble_groups(specs: list, kind: str) -> list[list]:
    """The tasks of an ensemble sweep: the SBTM runs of one (experiment, label, n) form one
    group (all their seeds); every other run is a group of its own. Blob and exact runs have
    no training to share (an ensemble would run them one after another), and a runtime
    experiment measures the time per step of one run, so they stay single runs."""
    groups: dict = {}
    for sp in specs:
        key = ((sp.experiment, sp.label, sp.solver, sp.n) if sp.solver == "sbtm" and kind != "runtime"
               else ("single", sp.stem))
        groups.setdefault(key, []).append(sp)
    return list(groups.values())


def _run_group(specs: list, out: str, device: str, dtype: str, checkpoint_every: int, threads: int | None,
               progress: bool, scale: str = "book", wait: bool = True, stop_file: str | None = None) -> list:
    """Run (or resume, or load) the runs ``specs`` of one (experiment, label, n) as one
    :func:`~landau_nb.solve_ensemble` (book: "Runtime"); returns one :func:`_run_one` status
    per run. Every member is taken under its own lock and saved as :func:`_run_one` saves it
    (same files, identity and metadata); its ``seconds`` is the group's wall time divided by
    the number of members (they take turns on the cores), the group's total and seeds are in
    ``run["ensemble"]``. Members already done, or locked by another process, are left out and
    handled by :func:`_run_one`; so are members that fail in the ensemble (non-finite values,
    :class:`~landau_nb.EnsembleError`): they run again alone from their checkpoint, so a run
    is never lost nor computed twice."""
    from .executors import stop_requested

    def should_stop():
        return stop_requested() or (stop_file is not None and os.path.exists(stop_file))

    args = (out, device, dtype, checkpoint_every, threads, progress, scale)
    if len(specs) == 1:
        return [_run_one(specs[0], *args, wait=wait, stop_file=stop_file)]
    if threads is not None:
        _set_threads(threads)
    if should_stop():
        return [{"stem": sp.stem, "status": "interrupted"} for sp in specs]
    statuses: dict = {}
    members, locks, single = [], {}, []
    try:
        for sp in specs:
            paths, identity = _paths(out, sp), run_identity(sp, scale, device, dtype)
            if _stored_state(paths, identity) == "done" and not _leftovers(paths):
                statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": True}
                continue
            lock = RunLock(paths["lock"])
            if not lock.try_acquire():
                single.append(sp)                       # taken: waited for (or left) as today
                continue
            locks[sp.stem] = lock
            if _claim(paths, identity) == "done":
                statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": True}
                locks.pop(sp.stem).release()
                continue
            members.append((sp, paths, identity))
        if members:
            from .ensemble import EnsembleError, solve_ensemble
            head = members[0][0]

            halt = threading.Event()

            def poll(i, k, *rest):
                if halt.is_set() or should_stop():
                    raise _Stopped

            started = time.perf_counter()
            try:
                trajs = _until_members_stop(halt, lambda: solve_ensemble(
                    problem_from_params(head.problem), head.solver, seeds=[sp.seed for sp, _, _ in members],
                    n=head.n, device=device, dtype=getattr(torch, dtype),
                    checkpoint=[paths["ckpt"] for _, paths, _ in members], checkpoint_every=checkpoint_every,
                    progress=False, callback=poll, **head.solve, **head.options))
            except EnsembleError as exc:
                trajs = list(exc.results)
            except _Stopped:
                trajs = [None] * len(members)
            except Exception:                           # every member failed the same way (e.g.
                trajs = [None] * len(members)           # non-finite): each reruns alone below
            seconds = time.perf_counter() - started
            ensemble = {"seeds": [sp.seed for sp, _, _ in members], "seconds": seconds}
            for (sp, paths, identity), traj in zip(members, trajs):
                if traj is not None:
                    _save_run(sp, traj, paths, identity, seconds / len(members), ensemble)
                    statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": False}
                elif should_stop():
                    statuses[sp.stem] = {"stem": sp.stem, "status": "interrupted"}
                else:
                    single.append(sp)                   # fall back to a single run
                locks.pop(sp.stem).release()
    finally:
        for lock in locks.values():
            lock.release()
    for sp in single:
        if should_stop():
            statuses[sp.stem] = {"stem": sp.stem, "status": "interrupted"}
        else:
            statuses[sp.stem] = _run_one(sp, *args, wait=wait, stop_file=stop_file)
    return [statuses[sp.stem] for sp in specs]


def _memory_estimate(spec: RunSpec, dtype: str) -> int:
    """Bytes one run holds at its peak, roughly: positions and their working copies, the
    saved snapshots and the per-step records."""
    problem = problem_from_params(spec.problem)
    t_end = spec.solve.get("t_end", problem.t_end)
    dt = spec.solve.get("dt", problem.dt)
    steps = max(1, int(round((t_end - problem.t0) / dt)))
    every = spec.solve.get("save_every")
    snapshots = 2 + (steps // every if every else 0)
    item = 4 if dtype == "float32" else 8
    # per particle: positions, scores, velocities and their float64 copies (about 40 (n, d)
    # arrays); SBTM adds the network's activations, gradients and optimiser state per point
    per_particle = problem.d * (snapshots + 40)
    if spec.solver == "sbtm":
        per_particle += 12 * spec.options.get("width", 100) * spec.options.get("depth", 1)
    return int(item * spec.n * per_particle + 8 * (steps + 1) * (problem.d**2 + problem.d + 16))


class _Signals:
    """While a sweep runs in the main thread: SIGTERM raises :class:`SweepInterrupted` (143)."""

    def __enter__(self):
        import signal
        import threading
        self.old = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise SweepInterrupted("terminated", signum)
            self.old = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        import signal
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def run_experiment(name: str, scale: str = "book", *, out=None, device="cpu", dtype=torch.float64,
                   labels=None, ns=None, seeds=None, workers: int | None = None, threads: int | None = None,
                   checkpoint_every: int = 50, progress: bool = True, executor="local",
                   wait: bool = True, ensemble: bool = False) -> "Results":
    """Run every run of experiment ``name`` at ``scale`` that is not already in ``out``
    (finished runs are loaded, interrupted ones resume from their checkpoint) and return
    the :class:`Results`. A stored run with other settings raises :class:`RunConflictError`.

    labels, ns, seeds : restrict the sweep (a label may be a string; duplicates are removed).
    workers : parallel worker processes on CPU (default: 2 at most, each with ``threads``
        torch threads; one in-process worker on CUDA). Results do not depend on ``workers``;
        they depend on ``threads`` (floating-point reduction order), 1 by default.
        Runtime experiments always run one at a time, with all of this process's threads.
    executor : "local" (the default), "dask", a Dask scheduler address or ``distributed.Client``
        (:mod:`landau_nb.executors`).
    wait : a run locked by another live process is waited for (True) or left to it (False:
        listed in ``Results.taken``).
    ensemble : run the SBTM seeds of each (label, n) together, as one
        :func:`~landau_nb.solve_ensemble` task whose trainings are fused (book: "Runtime").
        The files are those of single runs, bit-identical on CPU; each member's ``seconds`` is
        an equal share of the group's wall time. Blob, exact and runtime runs stay single.

    Ctrl-C or SIGTERM stops the whole sweep within seconds (workers included; each running
    run keeps its last checkpoint) and raises :class:`SweepInterrupted`.
    """
    from ._checks import check_device, check_dtype
    from .executors import make_executor
    exp = get_experiment(name)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    dtype_name = str(check_dtype(dtype)).replace("torch.", "")
    local = executor is None or (isinstance(executor, str) and executor == "local")
    if local:
        dev = check_device(device)
    else:       # runs execute elsewhere: a login node without a GPU may send runs to GPU nodes
        dev = torch.device(device)
        check_choice("device", dev.type, ("cpu", "cuda"))
    if ns is not None:
        ns = [check_int("n", n, low=2) for n in ns]
        for n in ns:
            check_request_size(n=n)
    if seeds is not None:
        if len(seeds) > MAX_RUNS:
            check_request_size(runs=len(seeds), what="seeds")
        seeds = [check_int("seed", s, low=0) for s in seeds]
    specs = exp.runs(scale, labels=labels, ns=ns, seeds=seeds)
    if not isinstance(ensemble, bool):
        raise TypeError(f"ensemble={ensemble!r}: expected True or False")
    for spec in specs:
        check_request_size(n=spec.n)
    if workers is None:          # (an ensemble sweep has one task per group of seeds)
        tasks = len(_ensemble_groups(specs, exp.kind)) if ensemble else len(specs)
        workers = 1 if dev.type != "cpu" or exp.kind == "runtime" else max(1, min(2, os.cpu_count() or 1, tasks))
    workers = check_int("workers", workers, low=1)
    if threads is not None:
        threads = check_int("threads", threads, low=1)
    if exp.kind == "runtime":
        workers = 1
    elif threads is None and dev.type == "cpu":
        threads = 1
    if specs and local:      # (a cluster's workers have their own memory)
        tasks = _ensemble_groups(specs, exp.kind) if ensemble else [[sp] for sp in specs]
        peak = max(sum(_memory_estimate(sp, dtype_name) for sp in task) for task in tasks)
        check_request_size(nbytes=peak * workers, what=f"{name} with {workers} worker(s)")
    out = Path(out if out is not None else settings(scale)["out"])
    out.mkdir(parents=True, exist_ok=True)
    # settle what is stored before computing anything: conflicts and damaged files stop here
    todo = [sp for sp in specs
            if _stored_state(_paths(out, sp), run_identity(sp, scale, device, dtype_name)) != "done"
            or _leftovers(_paths(out, sp))]
    from tqdm.auto import tqdm
    statuses = {}
    preloaded = len(specs) - len(todo)
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=f"{name} [{scale}]", disable=not progress)
    import secrets
    stop_file = out / name / f".stop-{os.getpid()}-{secrets.token_hex(4)}"
    (out / name).mkdir(parents=True, exist_ok=True)
    saved_threads = torch.get_num_threads()
    runner = make_executor(executor if todo else "local", workers if todo else 1)
    in_process = runner.name == "in-process"
    try:
        with _Signals():
            try:
                for attempt_wait in ((False, True) if wait else (False,)):
                    # ensemble: one task per group of runs, returning a list of statuses
                    tasks = _ensemble_groups(todo, exp.kind) if ensemble else todo
                    calls = [(task, str(out), str(device), dtype_name, checkpoint_every, threads,
                              progress and in_process and len(todo) == 1, scale, attempt_wait, str(stop_file))
                             for task in tasks]
                    for _, result in runner.run(_run_group if ensemble else _run_one, calls):
                        result = result if ensemble else [result]
                        statuses.update((status["stem"], status) for status in result)
                        if any(status["status"] == "interrupted" for status in result):   # told to stop
                            raise SweepInterrupted("interrupted", 15)
                        bar.update(sum(status["status"] != "taken" for status in result))
                    todo = [sp for sp in todo if statuses[sp.stem]["status"] == "taken"]
                    if not todo:
                        break
            except BaseException as exc:
                try:
                    stop_file.touch()
                except OSError:          # a full disk: local workers still get SIGTERM
                    pass
                runner.stop(grace=10.0)
                if isinstance(exc, KeyboardInterrupt):
                    signum = getattr(exc, "signum", 2)
                    done = sum(1 for s in statuses.values() if s["status"] in ("done", "failed"))
                    done += preloaded
                    raise SweepInterrupted(
                        f"{name}: interrupted by {'SIGTERM' if signum == 15 else 'SIGINT'}; {done} of "
                        f"{len(specs)} runs finished, the others kept their last checkpoint", signum,
                        finished=done, pending=len(specs) - done) from None
                raise
    finally:
        stop_file.unlink(missing_ok=True)
        runner.close()
        torch.set_num_threads(saved_threads)
        bar.close()
    failed = [s for s in statuses.values() if s["status"] == "failed"]
    for s in failed:
        warnings.warn(f"{name}: run {s['stem']} failed: {s['error']}", RuntimeWarning, stacklevel=2)
    res = Results.load(out, name, scale=scale, specs=[sp for sp in specs
                                                       if statuses.get(sp.stem, {}).get("status") != "taken"])
    res.taken = [(s["stem"], s["owner"]) for s in statuses.values() if s["status"] == "taken"]
    res.computed = [s["stem"] for s in statuses.values() if s["status"] in ("done", "failed") and not s.get("loaded")]
    return res


def reproduce(scale: str = "book", *, out=None, device="cpu", dtype=torch.float64, only=None,
              workers=None, progress=True, executor="local", ensemble: bool = False) -> dict:
    """Run every registered experiment at ``scale``; writes ``OUT/reproduce.json`` with the
    wall time of each experiment and of the whole reproduction. Returns that record.
    ``ensemble``: as in :func:`run_experiment` (recorded in the record)."""
    out = Path(out if out is not None else settings(scale)["out"])
    names = list(EXPERIMENTS) if only is None else [get_experiment(n).name for n in only]
    record = {"scale": scale, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
              "versions": environment_versions(), "experiments": {}, "ensemble": bool(ensemble),
              "cuda_device": (torch.cuda.get_device_name() if torch.device(device).type == "cuda"
                              and torch.cuda.is_available() else None)}
    start = time.perf_counter()
    for name in names:
        c = time.perf_counter()
        res = run_experiment(name, scale, out=out, device=device, dtype=dtype, workers=workers, progress=progress,
                             executor=executor, ensemble=ensemble)
        record["experiments"][name] = {"seconds": time.perf_counter() - c, "runs": len(res.runs),
                                       "failed": [f["stem"] for f in res.failed]}
    record["seconds"] = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    from .locks import atomic_write
    text = json.dumps(record, indent=1).encode()
    atomic_write(out / "reproduce.json", lambda fh: fh.write(text))
    return record


def rerun_stored(path, out, *, threads: int | None = None, checkpoint_every: int = 50):
    """Re-execute a stored run from the settings recorded in it (``meta["run"]["identity"]``,
    not the registry: a committed run is reproduced even after the registry changed) into the
    folder ``out``, and return ``(stored, new)`` Trajectories. ``path`` names the run
    (``.../EXPERIMENT/LABEL/n000100_seed0``, with or without ``.npz``/``.json``); the new run is
    ``out/EXPERIMENT/LABEL/n000100_seed0``, saved as the runner saves it (a paper-scale run is
    compacted the same way). ``threads``: torch threads (default: those recorded in the run,
    since the thread count changes the round-off). On the machine, thread count and versions
    that made it, the new run is bit-identical on CPU. Book: "Reproduction scoreboard"."""
    stored = Trajectory.load(path)
    run = stored.meta.get("run")
    ident = run.get("identity") if isinstance(run, dict) else None
    if not isinstance(ident, dict):
        raise ValueError(f"path={str(path)!r}: the run records no settings (meta['run']['identity']); "
                         "it was not written by the experiment runner")
    need = ("experiment", "scale", "label", "solver", "options", "problem", "n", "seed", "dtype", "device", "solve")
    lacking = [k for k in need if k not in ident]
    if lacking:
        raise ValueError(f"path={str(path)!r}: its recorded settings lack {', '.join(lacking)}")
    check_choice("scale", ident["scale"], SCALES)
    spec = RunSpec(ident["experiment"], ident["label"], ident["solver"], int(ident["n"]), int(ident["seed"]),
                   ident["problem"], ident["options"], ident["solve"])
    out = Path(out)
    target = _paths(out, spec)
    source = Path(path)
    source = source.with_suffix("") if source.suffix in (".npz", ".json") else source
    if target["base"].resolve() == source.resolve():
        raise ValueError(f"out={str(out)!r}: the re-run would overwrite the stored run {source}; "
                         "pass another folder")
    if target["npz"].exists() or target["json"].exists():
        raise ValueError(f"out={str(out)!r}: it already holds {spec.stem} of {spec.experiment}; "
                         "pass an empty folder")
    if threads is None:
        threads = run.get("threads") or run.get("provenance", {}).get("threads") or 1
    threads = check_int("threads", threads, low=1)
    if ident["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"path={str(path)!r}: the run was made on CUDA, which is not available here")
    saved_threads = torch.get_num_threads()
    try:
        status = _run_one(spec, str(out), ident["device"], ident["dtype"], checkpoint_every, threads,
                          False, scale=ident["scale"])
    finally:
        torch.set_num_threads(saved_threads)
    if status["status"] != "done":
        raise RuntimeError(f"re-run of {spec.experiment}/{spec.stem} ended {status['status']}: "
                           f"{status.get('error', '')}")
    return stored, Trajectory.load(target["base"])


# --- results and summaries -------------------------------------------------------------------

def loglog_slope(ns, values) -> float:
    """Least-squares slope of log(values) against log(ns) (NaN with fewer than 2 points)."""
    ns = np.asarray(ns, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[ok]), np.log(v[ok]), 1)[0])


def parse_seeds(text: str) -> list[int]:
    """"0-4" -> [0, 1, 2, 3, 4]; "0,2,5" -> [0, 2, 5]; duplicates removed ("0-4,2" -> 0..4).
    At most ``MAX_RUNS`` seeds, checked before the list is built."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(p) for p in part.split("-", 1))
                if b < a:
                    raise ValueError
            else:
                a = b = int(part)
        except ValueError:
            raise ValueError(f"seeds={text!r}: expected integers >= 0 like '0-4' or '0,2,5'") from None
        check_request_size(runs=len(seeds) + b - a + 1, what=f"seeds={text!r}")
        seeds.extend(range(a, b + 1))
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds={text!r}: seeds must be >= 0")
    check_request_size(runs=len(seeds), what=f"seeds={text!r}")
    return list(dict.fromkeys(seeds))


def anisotropy(traj: Trajectory, a: int = 0, b: int = 1) -> np.ndarray:
    """Normalised anisotropy (Sigma_aa - Sigma_bb)(t) / (Sigma_aa - Sigma_bb)(t0): 1 at the
    start, 0 at equilibrium. Dividing by the run's own initial value removes, to first order,
    the sampling error of the initial draw (it plays the role of the closed form "from the
    sample's Sigma(0)" when no closed form exists, e.g. Coulomb)."""
    sig = traj["second_moment"]
    diff = sig[:, a, a] - sig[:, b, b]
    return diff / diff[0]


def covariance_sampling_floor(problem, n, tau):
    """RMS over initial draws of ||Sigma_cf[Sigma_n(0)](tau) - Sigma*(tau)||_F, the error an
    exact solver started from n samples of N(0, Sigma_0) has at time tau after the start
    (Example 5.2; book: exp_anisotropic, "The sampling floor"). ``n`` may be an array."""
    if not (getattr(problem, "has_closed_covariance", False) and getattr(problem, "gamma", None) == 0):
        raise ValueError(f"problem={problem!r}: the sampling floor needs the closed-form relaxation of "
                         "Maxwellian molecules (anisotropic_gaussian with gamma = 0)")
    sig = problem.initial_second_moment().double().numpy()
    tr, tr2, d = np.trace(sig), np.trace(sig @ sig), problem.d
    lam = 4 * d * problem.B
    n = np.asarray(n, dtype=float)
    if np.any(n < 1):
        raise ValueError(f"n={n}: expected particle counts >= 1")
    return np.sqrt(((tr**2 + (1 - 2 / d) * tr2) * np.exp(-2 * lam * tau) + 2 * tr2 / d) / n)


def _metric(traj: Trajectory, key: str, at: str):
    if key == "energy_drift":
        e = traj["energy"]
        return float(abs(e[-1] - e[0]))
    if key in traj.saved:
        vals = traj.saved[key]
    else:
        vals = traj[key]
    if at == "end":
        return float(vals[-1])
    if at == "max":
        return float(np.nanmax(vals))
    if at == "mean":
        return float(np.nanmean(vals))
    raise ValueError(f"at={at!r}: expected 'end', 'max' or 'mean'")


class Results:
    """The finished runs of one experiment (loaded from a results folder).

    ``runs``: list of (RunSpec-like dict, Trajectory); ``failed``: runs that stopped on a
    non-finite value (their partial trajectories are saved as ``*-failed.npz``);
    ``incomplete``: (stem, what is wrong) of runs skipped because a file is missing or
    damaged; ``other_version``: (stem, version) of runs written by another landau_nb;
    ``taken``: (stem, owner) of runs left to another process (``wait=False``);
    ``computed``: stems of the runs this call computed (the others were loaded).
    """

    def __init__(self, experiment: Experiment, scale: str, runs: list, failed: list, folder: Path,
                 incomplete=None, other_version=None):
        self.experiment, self.scale, self.runs, self.failed, self.folder = experiment, scale, runs, failed, folder
        self.incomplete = list(incomplete or [])
        self.other_version = list(other_version or [])
        self.taken: list = []
        self.computed: list = []

    @classmethod
    def load(cls, out, name: str, *, scale: str = "book", specs=None) -> "Results":
        """Load the runs of ``specs`` (default: every finished or failed run in the folder).
        Without ``specs``, runs with a missing half (``.npz`` without ``.json`` or the reverse)
        or a damaged file are skipped and listed in ``incomplete``; with ``specs`` they raise
        (:class:`ResultFileError`, ``FileNotFoundError``). Runs written by another version of
        landau_nb are loaded, listed in ``other_version`` and reported in one warning."""
        exp = get_experiment(name)
        folder = Path(out) / name
        strict = specs is not None
        incomplete = []
        if specs is None:
            found = {}
            for f in sorted([*folder.glob("*/n*_seed*.npz"), *folder.glob("*/n*_seed*.json")]):
                stem = f.name[:-len(f.suffix)].removesuffix("-failed")
                try:
                    n, seed = int(stem[1:stem.index("_seed")]), int(stem[stem.index("_seed") + 5:])
                except ValueError:
                    continue
                found[(f.parent.name, n, seed)] = None
            for ckpt in sorted(folder.glob("*/n*_seed*.ckpt")):
                stem = f"{ckpt.parent.name}/{ckpt.name[:-5]}"
                lock = ckpt.with_suffix(".lock")
                if not any(f"{lab}/n{n:06d}_seed{seed}" == stem for lab, n, seed in found):
                    state = "being computed (locked)" if lock.exists() else "interrupted"
                    incomplete.append((stem, f"no result yet, only a checkpoint: {state}; `run` resumes it"))
            known = {sw.label: sw.solver for sc in SCALES for sw in exp.sweeps(sc)}
            specs = [RunSpec(name, lab, known.get(lab, lab), n, seed, {}, {}, {})
                     for lab, n, seed in sorted(found, key=lambda k: (k[0] != "sbtm", k))]
        runs, failed, other = [], [], []
        for spec in specs:
            base = folder / spec.stem
            for path in (base, base.with_name(base.name + "-failed")):
                npz, js = path.with_name(path.name + ".npz"), path.with_name(path.name + ".json")
                if not npz.exists() and not js.exists():
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        tr = Trajectory.load(path)
                except (ResultFileError, FileNotFoundError) as exc:
                    if strict and path is base:
                        raise
                    what = (f"{exc.filename} is missing (interrupted between its two files; `run` resumes it)"
                            if isinstance(exc, FileNotFoundError) else str(exc))
                    incomplete.append((spec.stem, what))
                    break
                version = tr.meta["versions"].get("landau_nb")
                if version != __version__:
                    other.append((spec.stem, version))
                if path is base:
                    runs.append((dataclasses.asdict(spec), tr))
                else:
                    failed.append({"stem": spec.stem, "error": tr.meta.get("error", ""), "trajectory": tr})
                break
        if other:
            versions = sorted({str(v) for _, v in other})
            warnings.warn(f"{len(other)} of the runs in {folder} were written by landau_nb {', '.join(versions)} "
                          f"(this is {__version__}): {', '.join(s for s, _ in other[:5])}"
                          + (" ..." if len(other) > 5 else ""), UserWarning, stacklevel=2)
        return cls(exp, scale, runs, failed, folder, incomplete, other)

    # selection
    @property
    def labels(self) -> list[str]:
        seen: list[str] = []
        for spec, _ in self.runs:
            if spec["label"] not in seen:
                seen.append(spec["label"])
        return seen

    def ns(self, label: str) -> list[int]:
        return sorted({spec["n"] for spec, _ in self.runs if spec["label"] == label})

    def _common_n(self, labels) -> int:
        """The largest n that every label in ``labels`` reached."""
        sets = [set(self.ns(lab)) for lab in labels]
        common = set.intersection(*sets) if sets else set()
        if not common:
            raise ValueError(f"no particle count is shared by {list(labels)} in {_display_folder(self.folder)} "
                             f"({', '.join(f'{lab}: {sorted(s)}' for lab, s in zip(labels, sets))}); "
                             "pass n explicitly or run the missing ones")
        return max(common)

    def select(self, label: str | None = None, n: int | None = None, seed: int | None = None) -> list[Trajectory]:
        return [tr for spec, tr in self.runs if (label is None or spec["label"] == label)
                and (n is None or spec["n"] == n) and (seed is None or spec["seed"] == seed)]

    def get(self, label: str, n: int, seed: int = 0) -> Trajectory:
        found = self.select(label, n, seed)
        if not found:
            raise KeyError(f"no run {label} n={n} seed={seed} in {_display_folder(self.folder)}")
        return found[0]

    # summaries
    def values(self, key: str, at: str = "end", label: str | None = None) -> dict:
        """{label: {n: array of the metric over seeds}} (``key`` a per-step or per-snapshot
        record, or "energy_drift"; ``at`` "end", "max" or "mean" over the run)."""
        out: dict = {}
        for spec, tr in self.runs:
            if label is not None and spec["label"] != label:
                continue
            out.setdefault(spec["label"], {}).setdefault(spec["n"], []).append(_metric(tr, key, at))
        return {lab: {n: np.asarray(v) for n, v in sorted(d.items())} for lab, d in out.items()}

    def table(self, key: str, at: str = "end", reference: tuple | None = ("sbtm", 100)) -> "ErrorTable":
        """Mean (and spread over seeds) of a metric vs n for each label, the fitted log-log
        slope, and the smallest n at which each other label matches ``reference`` =
        (label, n)."""
        return ErrorTable(self.values(key, at), key=key, at=at, reference=reference)

    def reference_second_moment(self, n: int | None = None, labels=None):
        """Reference Sigma(t) for problems without a closed form (Coulomb): the average over
        seeds, and over the solvers in ``labels`` (default: all), of the runs at the largest n
        every one of them reached (or ``n``). Returns (t, Sigma_ref(t), gap), gap(t) =
        ||Sigma_sbtm - Sigma_blob||_F at that n: the disagreement of the two methods, which
        bounds how far a large-n reference can be trusted (the paper takes the reference
        where the two coincide)."""
        labels = list(labels) if labels is not None else self.labels
        if n is None:
            n = self._common_n(labels)
        per = {}
        for lab in self.labels:
            trs = self.select(lab, n)
            if trs:
                per[lab] = np.mean([tr["second_moment"] for tr in trs], axis=0)
        if not all(lab in per for lab in labels):
            raise KeyError(f"no runs of {[lab for lab in labels if lab not in per]} at n={n} in {_display_folder(self.folder)}")
        t = self.select(labels[0], n)[0].t
        ref = np.mean([per[lab] for lab in labels if lab in per], axis=0)
        gap = (np.linalg.norm(per["sbtm"] - per["blob"], axis=(1, 2)) if {"sbtm", "blob"} <= set(per)
               else np.full(len(t), np.nan))
        return t, ref, gap

    def reference_errors(self, n_ref: int | None = None, at: str = "max", labels=None,
                         quantity: str = "second_moment") -> "ErrorTable":
        """Distance of each run to the large-n reference built from ``labels`` at ``n_ref``
        (:meth:`reference_second_moment`), as an :class:`ErrorTable`; ``quantity``
        "second_moment" (Frobenius norm of Sigma(t) - Sigma_ref(t)) or "anisotropy"
        (|a(t) - a_ref(t)| with :func:`anisotropy`, insensitive to the initial sample's
        own error); ``at``: "max" over t, "mean" over t or "end"."""
        check_choice("quantity", quantity, ("second_moment", "anisotropy"))
        check_choice("at", at, ("max", "mean", "end"))
        labels = list(labels) if labels is not None else self.labels
        if n_ref is None:
            n_ref = self._common_n(labels)
        if quantity == "second_moment":
            _, ref, _ = self.reference_second_moment(n_ref, labels)
        else:
            ref = np.mean([anisotropy(tr) for lab in labels for tr in self.select(lab, n_ref)], axis=0)
        vals: dict = {}
        for spec, tr in self.runs:
            if quantity == "second_moment":
                err = np.linalg.norm(tr["second_moment"] - ref, axis=(1, 2))
            else:
                err = np.abs(anisotropy(tr) - ref)
            v = float({"max": err.max(), "end": err[-1], "mean": err.mean()}[at])
            vals.setdefault(spec["label"], {}).setdefault(spec["n"], []).append(v)
        vals = {lab: {n: np.asarray(v) for n, v in sorted(d.items())} for lab, d in vals.items()}
        key = "cov_error_reference" if quantity == "second_moment" else "anisotropy_error_reference"
        return ErrorTable(vals, key=key, at=at, reference=("sbtm", 100))

    def missing(self, scale: str | None = None) -> list[str]:
        """The registered runs of ``scale`` (default: this one) that are not loaded here, as
        stems ``label/n000100_seed0`` (an unfinished paper-scale sweep names what it lacks)."""
        have = {f"{spec['label']}/n{spec['n']:06d}_seed{spec['seed']}" for spec, _ in self.runs}
        return [sp.stem for sp in self.experiment.runs(scale or self.scale) if sp.stem not in have]

    def provenance(self) -> dict:
        """Who made these runs: the git commits, machines, devices, dtypes and torch threads
        recorded in them (sets, so one value means all agree), how many runs and their total
        wall time in seconds (``meta["run"]``, written by the runner)."""
        out = {"runs": len(self.runs), "commits": set(), "dirty": False, "machines": set(), "devices": set(),
               "dtypes": set(), "threads": set(), "versions": set(), "seconds": 0.0, "finished": set()}
        for _, tr in self.runs:
            run = tr.meta.get("run", {})
            prov = run.get("provenance", {})
            out["commits"].add(prov.get("commit"))
            out["dirty"] |= bool(prov.get("dirty", False))
            mach = prov.get("machine", {})
            out["machines"].add(mach.get("gpu") or f"{mach.get('cpu', '?')} ({mach.get('cores', '?')} cores)")
            out["devices"].add(tr.meta.get("device", "?").split(":")[0])
            out["dtypes"].add(tr.meta["dtype"])
            out["threads"].add(run.get("threads"))
            out["versions"].add(tr.meta["versions"].get("landau_nb"))
            out["seconds"] += float(run.get("seconds", 0.0))
            if prov.get("finished_utc"):
                out["finished"].add(prov["finished_utc"][:10])
        return out

    def timing(self, skip: int = 1) -> dict:
        """{label: {n: median seconds per time step (score + velocity)}}, skipping the first
        ``skip`` steps (warm-up)."""
        out: dict = {}
        for spec, tr in self.runs:
            per_step = tr["time_score"][skip:] + tr["time_velocity"][skip:]
            out.setdefault(spec["label"], {}).setdefault(spec["n"], []).append(float(np.median(per_step)))
        return {lab: {n: float(np.median(v)) for n, v in sorted(d.items())} for lab, d in out.items()}

    def __repr__(self):
        return (f"Results({self.experiment.name!r}, scale={self.scale!r}, runs={len(self.runs)}, "
                f"failed={len(self.failed)}, folder={_display_folder(self.folder)!r})")


def _display_folder(folder) -> str:
    """``folder`` relative to the working directory (or else to the repository root, as
    ``results/paper/...`` from a chapter in ``book/``) when inside it, and with a book-scale
    temporary folder shown as ``<tmp>/...``: printed outputs must not depend on the machine."""
    folder = Path(folder).resolve()
    for base, shown in ((Path.cwd().resolve(), None), (_project_root().resolve(), None),
                        (Path(tempfile.gettempdir()).resolve(), "<tmp>")):
        if folder.is_relative_to(base):
            rel = folder.relative_to(base)
            if shown is None:
                return str(rel)
            # the temporary folder itself has a random name (landau-XXXX): hide it too
            return str(Path(shown, *rel.parts[1:])) if rel.parts[:1] and rel.parts[0].startswith("landau-") \
                else str(Path(shown, rel))
    return str(folder)


class ErrorTable:
    """A metric vs n per label: ``mean[label][n]``, ``std``, ``slope[label]`` and
    ``crossover[label]`` (smallest n whose mean is <= the reference's, or None)."""

    def __init__(self, values: dict, *, key: str, at: str, reference=None):
        self.values, self.key, self.at, self.reference = values, key, at, reference
        self.mean = {lab: {n: float(np.mean(v)) for n, v in d.items()} for lab, d in values.items()}
        self.std = {lab: {n: float(np.std(v)) for n, v in d.items()} for lab, d in values.items()}
        # standard error of the mean over seeds (sample std / sqrt(seeds)); NaN with one seed
        self.sem = {lab: {n: (float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan"))
                          for n, v in d.items()} for lab, d in values.items()}
        self.seeds = {lab: {n: len(v) for n, v in d.items()} for lab, d in values.items()}
        self.slope = {lab: loglog_slope(list(d), list(d.values())) for lab, d in self.mean.items()}
        self.crossover: dict = {}
        if reference is not None and reference[0] in self.mean and reference[1] in self.mean[reference[0]]:
            target = self.mean[reference[0]][reference[1]]
            for lab, d in self.mean.items():
                if lab == reference[0]:
                    continue
                hit = [n for n, v in d.items() if v <= target]
                self.crossover[lab] = min(hit) if hit else None

    def ratio(self, label: str, other: str, n: int, n_other: int | None = None) -> float:
        """mean[other][n_other] / mean[label][n]."""
        return self.mean[other][n_other or n] / self.mean[label][n]

    def __str__(self):
        ns = sorted({n for d in self.mean.values() for n in d})
        head = f"{self.key} ({self.at}) " + "".join(f"{'n=' + str(n):>12}" for n in ns) + f"{'slope':>8}"
        lines = [head]
        for lab, d in self.mean.items():
            cells = "".join(f"{d[n]:>12.4g}" if n in d else f"{'':>12}" for n in ns)
            lines.append(f"{lab:<{len(self.key) + len(self.at) + 3}}" + cells + f"{self.slope[lab]:>8.2f}")
        if self.crossover:
            ref = self.reference
            target = self.mean[ref[0]][ref[1]]
            for lab, n in self.crossover.items():
                where = f"first at n = {n}" if n is not None else f"not reached (n <= {max(self.mean[lab])})"
                lines.append(f"{lab} matches {ref[0]} at n = {ref[1]} ({target:.4g}): {where}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    def to_dict(self) -> dict:
        return {"key": self.key, "at": self.at, "mean": self.mean, "std": self.std, "sem": self.sem,
                "seeds": self.seeds, "slope": self.slope, "crossover": self.crossover}
