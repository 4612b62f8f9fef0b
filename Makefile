# Two commands on a fresh machine with Python 3.11, 3.12 or 3.13:  `make book`  and  `make test`.
# Both create the virtual environment .venv first if it is missing or out of date.
# `make lab` opens the chapters in JupyterLab from the same environment.

# The Python that creates .venv: the first of python3.11, python3.12, python3.13, python3, python
# on the PATH that runs and is 3.11 to 3.13 (every version pinned in constraints.txt installs on
# these, checked with pip's resolver; CI uses 3.11). Override with `make PYTHON=/path/to/python3.12`.
PYTHON_VERSIONS := 3.11, 3.12 or 3.13
PYTHON_CHECK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.13 python3 python,\
            $(shell $(p) -c '$(PYTHON_CHECK)' >/dev/null 2>&1 && echo $(p))))
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going

# Book pages that are notebooks: MyST Markdown files with a jupytext `kernelspec` header.
NOTEBOOKS := $(shell grep -rl --include='*.md' --exclude-dir=.ipynb_checkpoints '^kernelspec:' book 2>/dev/null | sort)

# The shared PTB copy beside the checkout (developers' machines and CI) is used when no
# root is set; elsewhere the default ~/datasets/ptb applies, and without PTB the book
# falls back to the embedded toy language.
SHARED_PTB := $(abspath ../shared/data/ptb)
ifeq ($(COURSE_PTB_ROOT),)
ifneq ($(wildcard $(SHARED_PTB)/ptb.train.txt),)
export COURSE_PTB_ROOT := $(SHARED_PTB)
endif
endif

# Likewise the shared copy of the Tang poems (全唐诗); without it they are downloaded, and the
# quick-mode chapter needs only the quatrains shipped with the package.
SHARED_POETRY := $(abspath ../shared/data/chinese-poetry)
ifeq ($(COURSE_POETRY_ROOT),)
ifneq ($(wildcard $(SHARED_POETRY)/SHA256SUMS),)
export COURSE_POETRY_ROOT := $(SHARED_POETRY)
endif
endif

# Training runs (checkpoints and records) go to runs/ at the repository root, from the book
# (whose pages execute in book/) and from the CLI alike, so both share one full run.
export COURSE_RUNS_DIR ?= $(CURDIR)/runs

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads
# made training cells up to 25x slower. Speed only; results are unchanged.
export OMP_WAIT_POLICY ?= PASSIVE
# NumPy's BLAS on 2 threads made the small NumPy layers of one chapter 5-10x slower.
export OPENBLAS_NUM_THREADS ?= 1

# Notebook outputs depend on the run mode, on whether PTB is on disk and on the committed
# full-run results (the training chapter shows them), but jupyter-cache
# only sees the code; when these change, the cached build is thrown away (see `book`).
PTB_DIR  := $(or $(COURSE_PTB_ROOT),$(HOME)/datasets/ptb)
PTB_FILES := $(wildcard $(PTB_DIR)/ptb.train.txt $(PTB_DIR)/ptb.valid.txt $(PTB_DIR)/ptb.test.txt)
PTB_HERE  := $(if $(filter 3,$(words $(PTB_FILES))),yes,no)
RUN_MODE := COURSE_FULL_RUN=$(COURSE_FULL_RUN) PTB=$(PTB_DIR) on-disk=$(PTB_HERE) results=$(firstword $(shell sha256sum companion/records/ptb_full_run.json 2>/dev/null))
MODE_STAMP := _build/.run-mode

.PHONY: venv book test unit nbval nbval-offline colab lab bench clean

venv: $(STAMP)

# Re-install only when the declared or pinned dependencies change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { \
	    if [ -z "$(PYTHON)" ]; then \
	        echo "make: no Python $(PYTHON_VERSIONS) found on the PATH (tried python3.11, python3.12,"; \
	        echo "      python3.13, python3, python). Install one, or name it: make PYTHON=/path/to/python3.12"; \
	        exit 1; fi; \
	    $(PYTHON) -c '$(PYTHON_CHECK)' || { \
	        echo "make: PYTHON=$(PYTHON) is Python $$($(PYTHON) -c 'import sys; print(sys.version.split()[0])' 2>&1);" \
	             "the pinned dependencies need $(PYTHON_VERSIONS)"; exit 1; }; \
	    echo "$(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[book,test]'
	touch $@

# HTML lands in _build/html; notebooks are executed (and cached) in the build.
book: $(STAMP)
	@mkdir -p _build
	@if [ "$$(cat $(MODE_STAMP) 2>/dev/null)" != "$(RUN_MODE)" ]; then \
	    echo "Run mode is now '$(RUN_MODE)': clearing cached notebook outputs."; \
	    rm -rf _build/.jupyter_cache _build/jupyter_execute _build/html _build/.doctrees; \
	    echo "$(RUN_MODE)" > $(MODE_STAMP); \
	fi
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo "Book built: open _build/html/index.html"

# Unit tests, then every notebook cell, then the book build with warnings as errors, then
# the .ipynb twins run as a Colab reader runs them (compared with the built HTML), then checks
# on the built HTML: static ones, and the book read by headless Chromium (offline), which also
# screenshots one of the executed twins.
test: unit nbval nbval-offline book colab
	REQUIRE_BUILT_BOOK=1 $(BIN)/python -m pytest tests/test_html.py tests/test_browser.py

# The tests that need the built book run after the build, in `test`.
unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/test_browser.py --ignore=tests/test_colab.py

# Every generated .ipynb in a Colab-like kernel (no myst-nb or Sphinx, google.colab present,
# the package installed by the set-up cell from a copy of this checkout); executed notebooks
# land in _build/colab/. Needs the built book (figure counts); see tests/test_colab.py.
colab: $(STAMP)
	REQUIRE_BUILT_BOOK=1 $(BIN)/python -m pytest tests/test_colab.py

# JupyterLab from the project's environment (the `lab` extra), with the MyST pages opening as
# notebooks (jupytext); the kernel is .venv's Python, so `companion` is this checkout's.
LAB_STAMP := $(VENV)/.installed-lab
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_STAMP): $(STAMP) scripts/jupyterlab_overrides.json
	$(BIN)/python -m pip install -c constraints.txt -e '.[book,test,lab]'
	install -D -m 644 scripts/jupyterlab_overrides.json $(LAB_OVERRIDES)
	touch $@

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) \
	    $(LAB_ARGS) book/memory_relay.md

nbval: $(STAMP)
ifeq ($(strip $(NOTEBOOKS)),)
	@echo "nbval: no notebook pages in book/ yet, nothing to execute."
else
	$(BIN)/python -m pytest --nbval --nbval-current-env $(NOTEBOOKS)
endif

# Every notebook again, as a reader without PTB and without network would run it: an empty
# PTB root and the mirror pointed at a closed local port. The pages must fall back to the
# embedded toy language (and say so) instead of failing.
nbval-offline: $(STAMP)
	@offline=$$(mktemp -d) && \
	COURSE_PTB_ROOT=$$offline/ptb COURSE_PTB_URL=http://127.0.0.1:9 \
	COURSE_POETRY_ROOT=$$offline/poetry COURSE_POETRY_URL=http://127.0.0.1:9 \
	    $(BIN)/python -m pytest --nbval --nbval-current-env $(NOTEBOOKS); \
	status=$$?; rm -rf $$offline; exit $$status

# Training speed: the article's recipe against the package's, on PTB, in one run (~12 min on
# 2 cores); prints the figures and writes benchmarks/last_run.json. See benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py $(BENCH_ARGS)

clean:
	rm -rf _build .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
