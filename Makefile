# Two commands from a fresh clone (see README):
#   make run    installs the project and runs the main job on the embedded default data
#   make test   installs the project with its test extras and runs the whole test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# PyTorch comes first, from its CPU wheel index: resolved as a dependency of the project, `torch` means a CUDA
# build of several GB on Linux. A torch that is already installed (your own GPU build) is left alone. Where that
# index cannot be reached, the plain `pip install` is tried (a local mirror or wheel cache may hold the CPU build).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: torch install install-dev run test test-slow bench

torch:
	@$(PYTHON) -c "import torch" 2>/dev/null || \
		$(PIP) install -q --retries 0 --timeout 10 "torch==$(TORCH_VERSION)" --index-url $(TORCH_INDEX) 2>/dev/null || \
		$(PIP) install -q "torch==$(TORCH_VERSION)"

install: torch
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .

# The test install includes the foundation models' libraries (about 23 MB of wheels): their tests build tiny
# random models offline, and the suite skips the two keys cleanly where the extra is missing.
install-dev: torch
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev,foundation]"

run: install
	mlflow run . -e train -P model=tcn --env-manager local --experiment-name mes-train

test: install-dev
	$(PYTHON) -m pytest -m "not slow"

test-slow: install-dev
	$(PYTHON) -m pytest -m slow

bench: install-dev
	$(PIP) install -q "statsmodels>=0.14.4,<0.15"
	$(PIP) install -q --no-deps mlfinpy
	$(PYTHON) benchmarks/pipeline.py --bars 1000000
