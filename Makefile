# Two commands from a fresh clone (see README):
#   make run    installs the project and runs the main job on the embedded default data
#   make test   installs the project with its test extras and runs the whole test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: install install-dev run test test-slow bench

install:
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .

install-dev:
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"

run: install
	mlflow run . -e train -P model=lightgbm --env-manager local

test: install-dev
	$(PYTHON) -m pytest -m "not slow"

test-slow: install-dev
	$(PYTHON) -m pytest -m slow

bench: install-dev
	$(PIP) install -q "statsmodels>=0.14.4,<0.15"
	$(PIP) install -q --no-deps mlfinpy
	$(PYTHON) benchmarks/pipeline.py --bars 1000000
