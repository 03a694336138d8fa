"""Reading a results folder: :class:`Results` (runs by label, n and seed; error tables,
timings, provenance, what is missing) and the analysis helpers of the experiment chapters."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from .._checks import check_choice, check_given
from .._version import __version__
from ..solver.trajectory import ResultFileError, Trajectory
from .defaults import project_root
from .registry import SCALES, Experiment, RunSpec, get_experiment
from .store import display_folder, identity_mismatch
from .store_names import check_name, parse_stem, run_stem

__all__ = ["Results", "ErrorTable", "paper_results", "loglog_slope", "anisotropy", "covariance_sampling_floor"]


def paper_results(name: str, folder=None) -> "Results":
    """The committed paper-scale runs of experiment ``name`` (``results/paper`` of the
    repository, or ``folder``), as :class:`Results`; nothing is computed. ``.missing()``
    names registered runs not there yet, ``.provenance()`` who made them; runs that cannot be
    trusted (damaged, mixed up) are skipped, listed in ``.skipped`` and said in a
    ``RuntimeWarning`` (``.skip_report()``), so a chapter that reads them shows how many it
    skipped and why. Book: the "At the paper's scale" section of each experiment chapter."""
    get_experiment(name)
    if folder is not None:
        check_given("folder", folder)
    base = Path(folder) if folder is not None else project_root() / "results" / "paper"
    if not (base / name).is_dir():
        raise FileNotFoundError(2, f"no paper-scale runs of {name!r} here (they are committed in the "
                                   "repository's results/paper/; `python -m landau_nb reproduce --scale paper` "
                                   "makes them)", str(base / name))
    res = Results.load(base, name, scale="paper")
    if res.skipped:          # a reader of a chapter is told: a RuntimeWarning in the cell's output
        warnings.warn(res.skip_report(), RuntimeWarning, stacklevel=2)
    return res


def loglog_slope(ns, values) -> float:
    """Least-squares slope of log(values) against log(ns) (NaN with fewer than 2 points)."""
    ns = np.asarray(ns, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[ok]), np.log(v[ok]), 1)[0])


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


#: per-step records every run of the runner has, which the tables and plots read
REQUIRED_RECORDS = ("energy", "mean", "second_moment", "time_score", "time_velocity")


def _record_problem(tr: Trajectory) -> str | None:
    """Why ``tr`` lacks what :class:`Results` reads (a hand-edited or foreign .npz), or None."""
    lacking = [k for k in REQUIRED_RECORDS if k not in tr.steps]
    if lacking:
        return f"has no per-step record {', '.join(repr(k) for k in lacking)} (not a result of the runner)"
    d = tr.meta["d"]
    for key, shape in (("mean", (d,)), ("second_moment", (d, d))):
        if tr.steps[key].shape[1:] != shape:
            return f"per-step record {key!r} has shape {tr.steps[key].shape}; expected (steps + 1, {shape})"
    return None


class Results:
    """The finished runs of one experiment (loaded from a results folder).

    ``runs``: list of (RunSpec-like dict, Trajectory); ``failed``: runs that stopped on a
    non-finite value (their partial trajectories are saved as ``*-failed.npz``);
    ``incomplete``: (stem, what is wrong) of runs skipped because a file is missing or
    damaged, or only a checkpoint is there; ``untrusted``: (stem, why) of runs skipped because
    their recorded identity (experiment, label, n, seed, solver) is not that of their path;
    ``skipped``: (file, why) of every result file not loaded (damaged, half a pair, an .npz
    that does not match its .json, a run in another run's place), for a chapter to say
    (:meth:`skip_report`); ``unverified``: stems of runs loaded without a checksum to check
    (written before checksums were recorded); ``other_version``: (stem, version) of runs
    written by another landau_nb; ``taken``: (stem, owner) of runs left to another process
    (``wait=False``); ``computed``: stems of the runs this call computed (the others were
    loaded).
    """

    def __init__(self, experiment: Experiment, scale: str, runs: list, failed: list, folder: Path,
                 incomplete=None, other_version=None, *, untrusted=None, skipped=None, unverified=None):
        self.experiment, self.scale, self.runs, self.failed, self.folder = experiment, scale, runs, failed, folder
        self.incomplete = list(incomplete or [])
        self.other_version = list(other_version or [])
        self.untrusted = list(untrusted or [])
        self.skipped = list(skipped or [])
        self.unverified = list(unverified or [])
        self.taken: list = []
        self.computed: list = []

    @classmethod
    def load(cls, out, name: str, *, scale: str = "book", specs=None) -> "Results":
        """Load the runs of ``specs`` (default: every finished or failed run in the folder).
        Without ``specs``, runs with a missing half (``.npz`` without ``.json`` or the reverse),
        a damaged file, an ``.npz`` that does not match its ``.json``, or a recorded identity
        that is not its path's (a run copied or renamed into another's place) are skipped and
        listed in ``incomplete``/``untrusted`` and ``skipped``; with ``specs`` they raise
        (:class:`ResultFileError`, ``FileNotFoundError``). Runs written by another version of
        landau_nb are loaded, listed in ``other_version`` and reported in one warning."""
        exp = get_experiment(name)
        check_given("out", out)
        folder = Path(out) / name
        strict = specs is not None
        incomplete, untrusted, skipped, unverified = [], [], [], []
        known = {sw.label: sw.solver for sc in SCALES for sw in exp.sweeps(sc)}
        if specs is None:
            found = {}
            for f in sorted([*folder.glob("*/n*_seed*.npz"), *folder.glob("*/n*_seed*.json")]):
                parsed = parse_stem(f.name)
                if parsed is None:
                    continue
                try:
                    check_name("label", f.parent.name)
                except ValueError:
                    skipped.append((str(f), f"its folder {f.parent.name!r} is not a plain label"))
                    continue
                found[(f.parent.name, *parsed)] = None
            for ckpt in sorted(folder.glob("*/n*_seed*.ckpt")):
                stem = f"{ckpt.parent.name}/{ckpt.name[:-5]}"
                lock = ckpt.with_suffix(".lock")
                if not any(run_stem(lab, n, seed) == stem for lab, n, seed in found):
                    state = "being computed (locked)" if lock.exists() else "interrupted"
                    incomplete.append((stem, f"no result yet, only a checkpoint: {state}; `run` resumes it"))
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
                    why = _record_problem(tr) if path is base else None
                    if why is not None:
                        raise ResultFileError(npz, why)
                except (ResultFileError, FileNotFoundError) as exc:
                    if strict and path is base:
                        raise
                    what = (f"{exc.filename} is missing (interrupted between its two files; `run` resumes it)"
                            if isinstance(exc, FileNotFoundError) else str(exc))
                    incomplete.append((spec.stem, what))
                    bad = exc.filename if isinstance(exc, FileNotFoundError) else exc.path
                    skipped.append((str(bad), what.removeprefix(f"{bad}: ")))
                    break
                why = identity_mismatch(tr.meta, name, spec.label, spec.n, spec.seed, known.get(spec.label))
                if why is not None:
                    if strict and path is base:
                        raise ResultFileError(js, why)
                    untrusted.append((spec.stem, f"{js}: {why}"))
                    skipped.append((str(js), why))
                    break
                if tr.checksum != "verified":
                    unverified.append(spec.stem)
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
        return cls(exp, scale, runs, failed, folder, incomplete, other, untrusted=untrusted, skipped=skipped,
                   unverified=unverified)

    def skip_report(self) -> str:
        """One line saying how many result files were skipped and why (for a chapter to print):
        ``"2 runs skipped in results/paper/bkw: sbtm/n000800_seed3.npz (does not match its
        .json ...); ..."``, or ``"no run skipped in ..."``."""
        where = display_folder(self.folder)
        if not self.skipped:
            return f"no run skipped in {where}"
        parts = []
        for file, why in self.skipped:
            path = Path(file)
            shown = f"{path.parent.name}/{path.name}" if path.parent.parent == Path(self.folder) else file
            parts.append(f"{shown} ({why})")
        count = len(self.skipped)
        return f"{count} run{'s' if count != 1 else ''} skipped in {where}: " + "; ".join(parts)

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

    def seeds(self, label: str | None = None) -> list[int]:
        """The seeds present (of ``label``, or of any run)."""
        return sorted({spec["seed"] for spec, _ in self.runs if label is None or spec["label"] == label})

    def first(self, label: str | None = None) -> Trajectory:
        """The first run (of ``label``): what the chapters read the time grid and dtype from."""
        for spec, tr in self.runs:
            if label is None or spec["label"] == label:
                return tr
        raise KeyError(f"no run{'' if label is None else f' labelled {label!r}'} in {display_folder(self.folder)}")

    @property
    def times(self):
        """The time grid of the runs (every run of an experiment shares it)."""
        return self.first().t

    @property
    def dtype(self) -> str:
        """The floating-point type the runs were computed in ("float32" or "float64")."""
        return self.first().meta["dtype"]

    def _common_n(self, labels) -> int:
        """The largest n that every label in ``labels`` reached."""
        sets = [set(self.ns(lab)) for lab in labels]
        common = set.intersection(*sets) if sets else set()
        if not common:
            raise ValueError(f"no particle count is shared by {list(labels)} in {display_folder(self.folder)} "
                             f"({', '.join(f'{lab}: {sorted(s)}' for lab, s in zip(labels, sets))}); "
                             "pass n explicitly or run the missing ones")
        return max(common)

    def select(self, label: str | None = None, n: int | None = None, seed: int | None = None) -> list[Trajectory]:
        return [tr for spec, tr in self.runs if (label is None or spec["label"] == label)
                and (n is None or spec["n"] == n) and (seed is None or spec["seed"] == seed)]

    def get(self, label: str, n: int, seed: int = 0) -> Trajectory:
        found = self.select(label, n, seed)
        if not found:
            raise KeyError(f"no run {label} n={n} seed={seed} in {display_folder(self.folder)}")
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
        where the two coincide). Default ``labels``: "sbtm" and "blob" where both are there
        (other labels, e.g. the blob method with another bandwidth, are compared against the
        reference, not averaged into it), else every label."""
        pair = [lab for lab in ("sbtm", "blob") if lab in self.labels]
        labels = list(labels) if labels is not None else (pair if len(pair) == 2 else self.labels)
        if n is None:
            n = self._common_n(labels)
        per = {}
        for lab in self.labels:
            trs = self.select(lab, n)
            if trs:
                per[lab] = np.mean([tr["second_moment"] for tr in trs], axis=0)
        if not all(lab in per for lab in labels):
            raise KeyError(f"no runs of {[lab for lab in labels if lab not in per]} at n={n} in {display_folder(self.folder)}")
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
        stems ``label/n000100_seed0`` (an unfinished paper-scale sweep names what it lacks).
        In a :meth:`relabel` view, registered labels appear under their new names."""
        rename = getattr(self, "_renamed", {})
        have = {run_stem(spec["label"], spec["n"], spec["seed"]) for spec, _ in self.runs}
        out = []
        for sp in self.experiment.runs(scale or self.scale):
            if sp.label in getattr(self, "_dropped", ()):
                continue
            if run_stem(rename.get(sp.label, sp.label), sp.n, sp.seed) not in have:
                out.append(sp.stem)                  # named as on disk
        return out

    def relabel(self, mapping: dict, *, drop=()) -> "Results":
        """A view of these runs with labels renamed by ``mapping`` and the labels in ``drop``
        left out (the Trajectories are shared, not copied). E.g. ``relabel({"blob_authors":
        "blob"}, drop=["blob"])`` shows the blob runs with the bandwidth of the authors' code
        under the label the claims read. Book: "Reproduction scoreboard"."""
        view = Results(self.experiment, self.scale,
                       [({**spec, "label": mapping.get(spec["label"], spec["label"])}, tr)
                        for spec, tr in self.runs if spec["label"] not in drop],
                       [f for f in self.failed], self.folder, self.incomplete, self.other_version)
        view._renamed = {**getattr(self, "_renamed", {}), **mapping}
        view._dropped = tuple(getattr(self, "_dropped", ())) + tuple(drop)
        return view

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
                f"failed={len(self.failed)}, folder={display_folder(self.folder)!r})")


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
