# Landau book: package, notebooks and Jupyter Book 1.x.
#   make book       build the HTML book into _build/html (from stored outputs)
#   make student    build the student edition (no solutions) into _build/student/html
#   make lab        open the chapters as a book in JupyterLab (MyST rendered: jupyterlab-myst)
#   make browser-test  check both built sites in headless Chromium, network blocked (and every
#                   page's layout at 1280, 1920 and 390 px)
#   make student-test  the student notebooks: no solution, a starter per coding exercise, and they run
#   make test       package tests, notebook sync check, nbval as on another machine,
#                   the chapters at paper scale,
#                   strict book build, student edition, student notebooks, browser test
#   make nbval      nbval on every notebook in this environment (OMP_NUM_THREADS etc. honoured)
#   make nbval-other  nbval under another numerical path (no AVX2/AVX-512, SSE4.2 BLAS, 1 thread)
#   make notebooks  re-execute the notebooks (after editing a .md or the package)
#   make check      only the .md/.ipynb sync-and-executed check
#   make clean      remove build outputs (keeps .venv)
#   make distclean  also remove .venv
#   make gpu-check  on a GPU machine: CUDA tests and GPU timings -> benchmarks/results/gpu.json
#   make paper-chapters  execute every experiment chapter with LANDAU_SCALE=paper (they load
#                   results/paper and compute nothing; fails on any failing assertion)
#   make paper      compute (or resume) every paper-scale run into results/paper (float32, GPU
#                   when CUDA is available; PAPER_ARGS="--only bkw --ensemble" etc.); prints the time

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Same environment for the package tests, nbval kernels and execute_notebooks.py:
# no tqdm bars in outputs, two threads unless the caller sets OMP_NUM_THREADS.
export TQDM_DISABLE := 1
export OMP_NUM_THREADS ?= 2
# Idle OpenMP threads sleep instead of spinning: on a busy (shared) machine a
# spinning pool slows torch 10-50x; results are unchanged.
export OMP_WAIT_POLICY := PASSIVE
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv lab book student student-test browser-test test pytest check nbval nbval-other paper-chapters strict-book notebooks clean distclean

# "Another machine" without another machine: the stored outputs are made natively
# (AVX2/AVX-512 torch kernels, 2 threads, numba for the host CPU); nbval-other
# re-executes every notebook with torch's portable kernels (no SIMD dispatch), MKL's
# SSE4.2 BLAS kernels (the path MKL takes on other CPUs), one thread (another
# reduction order) and numba compiled for a generic CPU of the same architecture
# (on arm64 the x86 settings are ignored). Each changes the last bits here; an output
# that survives them does not hang on this CPU's round-off (README: "Determinism").
OTHER_MACHINE := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 OMP_NUM_THREADS=1 NUMBA_CPU_NAME=generic

help:
	@sed -n "2,21p" Makefile | sed 's/^# //'

venv: $(STAMP)

# Recreated when the pins or the package metadata change. The stamp is only
# written once the package itself is installed (editable), so a tree without
# landau_nb/ yet is retried on the next call instead of being marked done.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	@if [ -d landau_nb ]; then \
	  $(PY) -m pip install -q -e . --no-deps && touch $(STAMP); \
	else \
	  echo "venv: landau_nb/ does not exist yet; editable install skipped"; \
	fi

# The chapters as a book in JupyterLab: jupyterlab-myst (pinned) renders directives, roles,
# admonitions, exercises and math with the book's macros (the first cell of each chapter,
# from _config.yml: scripts/notebook_macros.py); solutions are collapsed. LAB_ARGS="--port 8890" etc.
LAB_ARGS ?=
lab: venv
	$(PY) scripts/notebook_macros.py
	$(PY) scripts/collapse_solutions.py
	$(VENV)/bin/jupyter lab --notebook-dir=book $(LAB_ARGS) preface.ipynb

book: venv
	$(VENV)/bin/jupyter-book build .

# Package tests run with the Agg backend (no display). The notebook kernels must
# NOT inherit MPLBACKEND=Agg: ipykernel only selects the inline backend when
# MPLBACKEND is unset, and under Agg figures produce no outputs (nbval fails).
test: venv
	$(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory nbval-other
	$(MAKE) --no-print-directory paper-chapters
	$(MAKE) --no-print-directory strict-book
	$(MAKE) --no-print-directory student
	$(MAKE) --no-print-directory student-test
	$(MAKE) --no-print-directory browser-test

pytest:
	@if [ -d tests ]; then \
	  MPLBACKEND=Agg $(PY) -m pytest tests -q; \
	else \
	  echo "pytest: no tests/ directory yet, package tests skipped"; \
	fi

check:
	$(PY) scripts/check_notebooks.py
	$(PY) scripts/notebook_macros.py
	$(PY) scripts/collapse_solutions.py

# Explicit book/*.ipynb: nothing under _build/ (copies of the notebooks) is collected.
nbval:
	env -u MPLBACKEND $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	  --nbval-sanitize-with book/nbval_sanitize.cfg book/*.ipynb

nbval-other:
	env $(OTHER_MACHINE) $(MAKE) --no-print-directory nbval

# The experiment chapters at paper scale: every live cell loads the committed runs of
# results/paper (nothing is computed), so each paper-scale assertion is checked; the
# executed copies go to a temporary folder (book/ is not written).
paper-chapters: venv
	$(PY) scripts/execute_notebooks.py --paper-scale "$$(mktemp -d)"

strict-book:
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# Student edition: the same book with every solution removed (pages and the
# downloadable .ipynb copies); exercises keep their numbers. book/_ext/student_edition.py
# does it when LANDAU_STUDENT_EDITION=1 (sphinx-exercise's hide_solutions crashes
# on the gated solution-start/solution-end form the chapters use).
student: venv
	rm -rf _build/student
	LANDAU_STUDENT_EDITION=1 $(VENV)/bin/jupyter-book build . -W -n --keep-going \
	  --path-output _build/student
	mv _build/student/_build/html _build/student/html
	rm -rf _build/student/_build
	@echo "student edition: _build/student/html/index.html"

# Headless system Chromium (never a downloaded browser) via Playwright, all
# non-local requests blocked. Skips with a message when Chromium is missing;
# builds the sites it needs when they are missing. Screenshots: _build/screenshots/.
# tests/test_lab.py opens two chapters in a real JupyterLab (jupyterlab-myst) on a free
# localhost port: no raw MyST, no math errors, no VBox( text, solutions hidden.
CHROMIUM ?= /usr/bin/chromium
browser-test: venv
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "browser-test: SKIPPED, no Chromium at $(CHROMIUM) (apt-get install -y chromium)"; \
	  exit 0; \
	fi; \
	test -f _build/html/index.html || $(MAKE) --no-print-directory strict-book; \
	test -f _build/student/html/index.html || $(MAKE) --no-print-directory student; \
	LANDAU_BROWSER_TEST=1 CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/test_browser.py tests/test_lab.py \
	  -q -p no:cacheprovider -rs

notebooks: venv
	$(PY) scripts/execute_notebooks.py $(NB)

clean:
	rm -rf _build .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info

# GPU check (issue 12): CUDA tests, pair-sum throughput, SBTM step vs n, ensemble speed-up and
# anisotropic_d3 at paper scale, at most ~8 minutes on one H100/H200; writes
# benchmarks/results/gpu.json. Exits 2 without a CUDA device (smoke mode on a CPU:
# $(PY) benchmarks/gpu_check.py --device cpu --quick).
.PHONY: gpu-check
gpu-check: venv
	MPLBACKEND=Agg $(PY) benchmarks/gpu_check.py --budget 480

# Section 5 at the paper's scale (README: "The committed paper-scale runs"): every registered
# experiment, n = 100*2^k, five seeds, float32, into results/paper (what the chapters and the
# scoreboard read; commit it afterwards). On the GPU when CUDA is available, else on the CPU
# (days on two cores). Finished runs are loaded, interrupted ones resume, so `make paper` is
# also how a partial sweep is completed. Neither `make test` nor CI ever runs it.
PAPER_ARGS ?=
PAPER_REPORT := import json, os, sys; p = "results/paper/reproduce.json"; \
  os.path.exists(p) and os.path.getmtime(p) >= int(sys.argv[1]) or sys.exit("no new results/paper/reproduce.json: the sweep stopped early"); \
  r = json.load(open(p)); \
  [print("  %-16s %5d runs %9.2f h%s" % (k, e["runs"], e["seconds"] / 3600, "  failed: %s" % e["failed"] if e["failed"] else "")) for k, e in r["experiments"].items()]; \
  print("reproduce (%s, %s): %.2f h in all, written to results/paper/reproduce.json" % (r["device"], r["dtype"], r["seconds"] / 3600))
.PHONY: paper
paper: venv
	@start=$$(date +%s); rc=0; \
	MPLBACKEND=Agg $(PY) -m landau_nb reproduce --scale paper --out results/paper $(PAPER_ARGS) > /dev/null || rc=$$?; \
	[ $$rc -gt 1 ] || $(PY) -c '$(PAPER_REPORT)' $$start || true; \
	echo "make paper: $$(( $$(date +%s) - start )) s of wall time (exit $$rc)"; \
	exit $$rc

# The student notebooks (solutions cut out as in `make student`): no solution left, a starter
# cell after every coding exercise, and each chapter's setup cell + starters run alone in a
# fresh kernel (experiment chapters at LANDAU_SCALE=paper: nothing computed); the theory
# chapters' whole student notebooks run too. A few minutes on 2 cores.
student-test: venv
	env -u MPLBACKEND LANDAU_STUDENT_TEST=1 $(PY) -m pytest tests/test_student_edition.py -q -p no:cacheprovider
