# saeprobe — two commands (see README.md):
#   make book   set up (first time only), run every notebook on $(PROFILE), build the HTML book
#   make test   set up (first time only), run the test suite (incl. smoke book build + browser check)
# Set-up is idempotent: stamp files in .venv/ make a second run skip straight to the work.

SHELL    := /bin/bash
PROFILE  ?= cpu
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip --disable-pip-version-check
STAMP    := $(VENV)/.saeprobe-installed
KSTAMP   := $(VENV)/.saeprobe-kernel
MATHJAX_NPM  := .cache/mathjax/npm
MATHJAX_SITE := .cache/mathjax/site/mathjax
MATHJAX      := $(MATHJAX_SITE)/tex-svg.js
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export WANDB_MODE ?= disabled

.PHONY: help setup venv chromium mathjax book notebooks html test clean clean-book

help:
	@echo "make book   [PROFILE=cpu|smoke|paper]  run the notebooks, build the book, print the path to open"
	@echo "make test                              run the tests (smoke book build + headless browser check)"
	@echo "make setup                             only create .venv and install (done by both above)"
	@echo "make clean-book                        drop executed notebooks and _build/"

# ------------------------------------------------------------------------------------------ set-up
$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU wheel, so nothing below pulls a multi-GB CUDA build.
# (GPU users: install a CUDA torch into .venv first, see README; pip then keeps it.)
# Without a CUDA torch the install stays CUDA-free: sae-probes (P1's datasets) goes in with --no-deps
# and the `cpu` extra brings xgboost-cpu instead of the xgboost wheel, which pulls nvidia-nccl-cu12
# (a venv that already has an `xgboost` module keeps it: pip would put a second one on top).
# With a CUDA torch: the `full` extra (sae-probes and xgboost as published).
$(STAMP): pyproject.toml requirements/torch-cpu.txt requirements/sae-probes.txt | $(PY)
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)" 2>/dev/null; then \
	  echo "keeping the installed CUDA torch"; \
	  $(PIP) install -e '.[dev,full]'; \
	else \
	  $(PIP) install -r requirements/torch-cpu.txt && \
	  $(PIP) install --no-deps -r requirements/sae-probes.txt && \
	  if $(PY) -c "import xgboost" 2>/dev/null; then $(PIP) install -e '.[dev]'; \
	  else $(PIP) install -e '.[dev,cpu]'; fi; \
	fi
	touch $@

# The notebook kernel `python3` runs this venv's interpreter (absolute path in kernel.json).
$(KSTAMP): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (saeprobe)" >/dev/null
	touch $@

venv: $(KSTAMP)

# MathJax 3 from the npm registry, outside _static/, copied into the built book (see _config.yml).
$(MATHJAX):
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm; \
	  else echo "npm is needed to install MathJax locally: install Node.js/npm (e.g. apt-get install npm)"; exit 1; fi; }
	mkdir -p $(MATHJAX_NPM)
	npm install --prefix $(MATHJAX_NPM) --no-audit --no-fund --loglevel=error mathjax@3
	rm -rf $(MATHJAX_SITE) && mkdir -p $(dir $(MATHJAX_SITE))
	cp -r $(MATHJAX_NPM)/node_modules/mathjax/es5 $(MATHJAX_SITE)

mathjax: $(MATHJAX)

# Debian's chromium for the browser test (no `playwright install`: nothing is downloaded but the
# Debian package). Without root we skip it and the browser test is skipped with a message.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "NOTE: $(CHROMIUM) not found and not root: the headless-browser test will be skipped" \
	  "(install it with: sudo apt-get install chromium)"; fi

setup: venv mathjax

# ------------------------------------------------------------------------------------------- work
notebooks: setup
	$(PY) -m saeprobe.book run --profile $(PROFILE)

html: setup
	$(PY) -m saeprobe.book build

book: setup
	@start=$$(date +%s); \
	$(PY) -m saeprobe.book run --profile $(PROFILE) && \
	$(PY) -m saeprobe.book build && \
	echo "make book (PROFILE=$(PROFILE)) took $$(( $$(date +%s) - start )) s; open: file://$(CURDIR)/_build/html/index.html"

test: setup chromium
	$(PY) -m pytest $(PYTEST_ARGS)

clean-book:
	rm -rf _build book/_generated

clean: clean-book
	rm -rf $(VENV) .cache/mathjax
