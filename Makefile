# Two set-up commands (see README): `make train` and `make test`. Each creates the local
# virtual environment .venv on first use and installs the pinned dependencies it needs.
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/python -m pip --quiet --disable-pip-version-check
CORE := $(VENV)/.installed-core
TEST := $(VENV)/.installed-test
WORKDIR ?= workdirs/digits

GPU := $(VENV)/.installed-gpu
GPU_CHECK_OUT ?= workdirs/gpu_check/$(shell date -u +%Y%m%dT%H%M%S)

.PHONY: train test test-slow gpu-check clean-venv

$(CORE): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $(CORE)

# Test tools and the parity reference (CPU torch, timm without its torchvision pin).
$(TEST): $(CORE)
	$(PIP) install -e '.[test,parity]'
	$(PIP) install --no-deps timm==1.0.31
	touch $(TEST)

# Train the default config on the embedded digits data set, then report test accuracy.
# Run it again to resume from the latest checkpoint in $(WORKDIR).
train: $(CORE)
	$(VENV)/bin/mixer-vit train --config experiments/configs/digits.py --workdir $(WORKDIR)

# The default test suite (slow tests excluded).
test: $(TEST)
	$(VENV)/bin/python -m pytest -q -n 2 --durations=15

# Only the slow tests (full default training runs, ...).
test-slow: $(TEST)
	$(VENV)/bin/python -m pytest -q -n 2 -m slow

# JAX's CUDA 13 plug-in, and torch + timm for the timm rows (PyPI's Linux torch wheel
# is built with CUDA).
$(GPU): $(CORE)
	$(PIP) install -e '.[gpu,parity]'
	$(PIP) install --no-deps timm==1.0.31
	touch $(GPU)

# On a machine with an NVIDIA GPU: bench rows, attention kernel, digits training; writes
# $(GPU_CHECK_OUT)/gpu_check.{json,md} (docs/gpu.md). GPU_CHECK_FLAGS=--smoke: CPU plumbing.
gpu-check: $(GPU)
	$(VENV)/bin/python -m mixer_vit.bench.gpu_check --out $(GPU_CHECK_OUT) $(GPU_CHECK_FLAGS)

clean-venv:
	rm -rf $(VENV)
