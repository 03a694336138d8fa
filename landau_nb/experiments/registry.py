"""The experiment registry's types: a :class:`Sweep` (a solver over n and seeds), a
:class:`RunSpec` (one run, and where it is written) and an :class:`Experiment` (the paper's
problem and hyper-parameters at two scales), and the registry :data:`EXPERIMENTS` itself.
The paper's experiments are registered in :mod:`landau_nb.experiments.section5`. Book: the
chapters of Part "Experiments"."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._checks import check_choice, check_int, check_request_size
from ..equation.problems import get_problem
from .store_names import check_name, run_stem

__all__ = ["SCALES", "Sweep", "RunSpec", "Experiment", "EXPERIMENTS", "register", "get_experiment"]


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

    def __post_init__(self):
        check_name("label", self.label)        # it names a folder of the results


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

    def __post_init__(self):
        # the experiment, label, n and seed make the run's path: plain names and counts only,
        # so that no stored or edited setting can send a run outside its results folder
        check_name("experiment", self.experiment)
        check_name("label", self.label)
        check_int("n", self.n, low=1)
        check_int("seed", self.seed, low=0)

    @property
    def stem(self) -> str:
        return run_stem(self.label, self.n, self.seed)


@dataclass(frozen=True)
class Experiment:
    """A numerical experiment of the paper.

    name, title, paper : identifier, one-line title, where it is in the paper.
    problem : keyword arguments of :func:`landau_nb.equation.problems.get_problem` (incl. ``name``).
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

    def __post_init__(self):
        check_name("experiment", self.name)

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
            # a name that is a sweep's label selects that sweep; any other name, the sweeps of
            # that solver (so "blob" is the label blob, not also blob_authors)
            names = {s.label for s in sweeps}
            sweeps = [s for s in sweeps if s.label in labels
                      or any(lab not in names and s.solver == lab for lab in labels)]
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


EXPERIMENTS: dict[str, Experiment] = {}


def register(e: Experiment) -> Experiment:
    EXPERIMENTS[e.name] = e
    return e


def get_experiment(name: str) -> Experiment:
    check_choice("experiment", name, tuple(EXPERIMENTS))
    return EXPERIMENTS[name]
