# Two commands for a newcomer: `make run` and `make test`.
#
# `make run` installs what running needs (`pip install -e .`: the base dependencies),
# `make test` adds the development extras (`.[dev]`). Both install with uv, taken from
# PyPI into the venv, which sets up a fresh clone in a third of pip's time; INSTALLER=pip
# uses pip alone (docs/install.md has the figures). Both show the installer's progress.
PYTHON    ?= python3
INSTALLER ?= uv
VENV      := .venv
PY        := $(VENV)/bin/python
UV        := $(VENV)/bin/uv
VENV_MADE := $(VENV)/.created
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
NOTEBOOK_STAMP := $(VENV)/.installed-notebook
# uv keeps a cache of its own: PIP_NO_CACHE_DIR=1 turns that one off too.
NO_CACHE  := $(if $(PIP_NO_CACHE_DIR),UV_NO_CACHE=1)

.PHONY: run test install lint bench results notebook docs clean

# $(call install,WHAT,PACKAGES,SECONDS): uv when the venv has it, else pip; never quiet.
define install
	@if [ "$(INSTALLER)" = uv ] && [ -x $(UV) ]; then \
	  echo "installing $(1) with uv (about $(3) s on a fresh clone) ..."; \
	  $(NO_CACHE) $(UV) pip install --python $(PY) $(2); \
	else \
	  echo "installing $(1) with pip (about $(4) s on a fresh clone) ..."; \
	  $(PY) -m pip install $(2); \
	fi
endef

$(VENV_MADE):
	@echo "creating $(VENV) ($(PYTHON) -m venv, about 5 s) ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ "$(INSTALLER)" = uv ] && [ ! -x $(UV) ]; then \
	  echo "installing uv into $(VENV) (pip install uv, about 3 s) ..."; \
	  $(PY) -m pip install --progress-bar off uv \
	    || echo "uv did not install: installing with pip instead"; \
	fi
	@touch $@

$(RUN_STAMP): pyproject.toml | $(VENV_MADE)
	$(call install,lamport and what running needs,-e .,8,25)
	@touch $@

$(DEV_STAMP): pyproject.toml $(RUN_STAMP)
	$(call install,the development extras (tests; lint; docs),-e '.[dev]',15,60)
	@touch $@

## install: lamport, the development extras and the tools into .venv
install: $(DEV_STAMP)

## run: the main job, the DES sweep of all eleven experiments over 100 seeds (-> runs/des/sweep-all-s100)
run: $(RUN_STAMP)
	$(PY) -m lamport.des sweep --seeds 100

## test: the whole test suite (CI calls this)
test: $(DEV_STAMP)
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lamport

bench: $(RUN_STAMP)
	$(PY) benchmarks/bench_des.py
	$(PY) benchmarks/bench_realtime.py

## notebook: open the tutorial (docs/tutorial.ipynb) in Jupyter, installing it on first use
notebook: $(NOTEBOOK_STAMP)
	$(VENV)/bin/jupyter notebook docs/tutorial.ipynb

$(NOTEBOOK_STAMP): pyproject.toml $(DEV_STAMP)
	$(call install,Jupyter Notebook,-e '.[notebook]',10,40)
	@touch $@

## docs: build the documentation site into site/ (mkdocs build --strict)
docs: $(DEV_STAMP)
	$(VENV)/bin/mkdocs build --strict

## results: experiments/RESULTS.md from a 100-seed DES sweep and eleven 60 s real-time runs
results: $(RUN_STAMP)
	$(PY) experiments/make_results.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .mypy_cache .ruff_cache
