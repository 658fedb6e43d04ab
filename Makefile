# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install lint bench results clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: the main job, the DES sweep of all eleven experiments over 100 seeds (-> runs/des/sweep-all-s100)
run: $(STAMP)
	$(PY) -m lamport.des sweep --seeds 100

## test: the whole test suite (CI calls this)
test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lamport

bench: $(STAMP)
	$(PY) benchmarks/bench_des.py
	$(PY) benchmarks/bench_realtime.py

## results: experiments/RESULTS.md from a 100-seed DES sweep and eleven 60 s real-time runs
results: $(STAMP)
	$(PY) experiments/make_results.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .mypy_cache .ruff_cache
