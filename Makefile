# Two commands do all set-up on a fresh Debian machine:
#   make run   - system packages (when root/sudo), .venv, the app's deps, then start the app
#   make test  - the same plus test tools (JACK, Xvfb, training extras), then ruff + pytest
# Packages: make dist (sdist + wheel in dist/); make check-install (the wheel installed into a
# fresh venv outside the checkout and run from there, as CI does: tools/check-install.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

APT_RUN := libfluidsynth3 fluid-soundfont-gm libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 libxcb-image0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1
APT_TEST := $(APT_RUN) fluidsynth jackd2 jack-tools xvfb xauth imagemagick desktop-file-utils x11-utils

.PHONY: run test lint dist check-install system-run system-test clean

run: system-run $(VENV)/.run-installed
	$(BIN)/perfjam

test: system-test $(VENV)/.test-installed
	$(BIN)/ruff check .
	tools/with-jack.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

dist: $(VENV)/.test-installed
	$(BIN)/python -m build --outdir dist .

check-install: system-test $(VENV)/.test-installed
	tools/check-install.sh $(BIN)/python

system-run:
	@tools/apt-install.sh $(APT_RUN)

system-test:
	@tools/apt-install.sh $(APT_TEST)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@ $(VENV)/.run-installed

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
