# Two commands for a fresh machine: `make book` (set up, build the HTML book)
# and `make test` (set up, run the unit tests and every lecture under nbval).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LECTURES := $(sort $(wildcard lectures/*.ipynb))
JOBS ?= 2

.PHONY: all book test outputs clean help

all: book

help:
	@echo "make book     set up the environment and build the HTML book into _build/html"
	@echo "make test     set up the environment and run unit tests + every lecture under nbval"
	@echo "make outputs  re-execute every lecture at the full profile and store its outputs"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,book]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "Book built: open $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	AELIB_PROGRESS=0 $(PY) -m pytest -n $(JOBS) --dist loadscope $(PYTEST_ARGS)

# Re-execute every lecture in place at the full profile (outputs and widget state stored).
outputs: $(STAMP)
	for nb in $(LECTURES); do \
	  AELIB_PROFILE=full AELIB_PROGRESS=0 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.store_widget_state=True "$$nb" || exit 1; \
	done

clean:
	rm -rf _build .pytest_cache
