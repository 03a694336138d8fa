"""Many runs on disk: the experiments of Section 5 of the paper (a registry), a resumable
runner and the results folder.

Each :class:`Experiment` holds the paper's problem and hyper-parameters and two scales:
``"paper"`` (n = 100·2^k as in the paper, several seeds; meant for a GPU) and ``"book"``
(a few particle counts, minutes on two CPU cores; the book's stored outputs). SBTM and the
blob method share the initial sample of each (n, seed): both draw it from the same seeded
stream (book: "Particles and conservation").

The wing's modules, from the bottom up:

* :mod:`~landau_nb.experiments.store_names` — the run's file name ``LABEL/n000100_seed0``;
* :mod:`~landau_nb.experiments.registry` — :class:`Sweep`, :class:`RunSpec`,
  :class:`Experiment`, :data:`EXPERIMENTS`; :mod:`~landau_nb.experiments.section5` registers
  the paper's experiments;
* :mod:`~landau_nb.experiments.defaults` — device, dtype and results folder per scale;
* :mod:`~landau_nb.experiments.provenance` — who made a run, on what (the stamp in its JSON);
* :mod:`~landau_nb.experiments.locks`, :mod:`~landau_nb.experiments.executors` — one lock per
  run; local processes or Dask;
* :mod:`~landau_nb.experiments.store` — a run's identity and files, claiming and saving it;
* :mod:`~landau_nb.experiments.results` — :class:`Results` and the analysis helpers;
* :mod:`~landau_nb.experiments.runner` — :func:`run_experiment`, :func:`reproduce`,
  :func:`rerun_stored`;
* :mod:`~landau_nb.experiments.phase_space` — the Vlasov–Landau experiments
  (:data:`VLASOV_EXPERIMENTS`, :func:`run_vlasov_experiment`, :func:`vlasov_results`), with the
  same stems, identities, provenance, checksums, resume and run locks.

Runs are written as ``OUT/EXPERIMENT/LABEL/n000100_seed0.npz`` + ``.json``; a run that is
interrupted continues from its last checkpoint (``.ckpt`` folder next to it) and ends
bit-identical on CPU to an uninterrupted one. A run's identity is its full settings
(:func:`run_identity`): a stored run is reused only when the identity matches, otherwise
:class:`RunConflictError` names the difference. Each run is computed under a lock
(``.lock`` next to it), so several processes or machines can share one folder. Book: the
chapters of Part "Experiments".
"""

from . import section5  # noqa: F401  (registers the paper's experiments)
from .defaults import project_root, settings
from .locks import RunTakenError
from .registry import EXPERIMENTS, SCALES, Experiment, RunSpec, Sweep, get_experiment, register
from .results import ErrorTable, Results, anisotropy, covariance_sampling_floor, loglog_slope, paper_results
from .runner import SweepInterrupted, parse_seeds, reproduce, rerun_stored, run_experiment
from .store import RunConflictError, display_folder, run_identity
from .phase_space import (VLASOV_EXPERIMENTS, PhaseSpaceRun, VlasovExperiment, get_vlasov_experiment,  # noqa: E402
                          register_vlasov, run_vlasov_experiment, vlasov_results)

__all__ = ["Sweep", "Experiment", "RunSpec", "EXPERIMENTS", "SCALES", "register", "get_experiment",
           "run_experiment", "reproduce", "rerun_stored", "Results", "ErrorTable", "paper_results", "settings",
           "project_root", "loglog_slope", "parse_seeds", "anisotropy", "covariance_sampling_floor", "run_identity",
           "display_folder", "RunConflictError", "SweepInterrupted", "RunTakenError",
           "VLASOV_EXPERIMENTS", "PhaseSpaceRun", "VlasovExperiment", "get_vlasov_experiment", "register_vlasov",
           "run_vlasov_experiment", "vlasov_results"]
