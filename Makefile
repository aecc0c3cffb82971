# Two set-up commands (see README): `make train` and `make test`. Each creates the local
# virtual environment .venv on first use and installs the pinned dependencies into it.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
WORKDIR ?= workdirs/digits

.PHONY: train test test-slow clean-venv

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# Train the default config on the embedded digits data set, then report test accuracy.
# Run it again to resume from the latest checkpoint in $(WORKDIR).
train: $(STAMP)
	$(VENV)/bin/mixer-vit train --config experiments/configs/digits.py --workdir $(WORKDIR)

# The default test suite (slow tests excluded).
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# Only the slow tests (full default training run, ...).
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

clean-venv:
	rm -rf $(VENV)
