# amber2: two commands do all the setup on a fresh machine.
#   make demo   install, then run the whole study on the bundled simulated corpus
#   make test   install, then run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: install test demo lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# Pin torch first: the local CPU wheel. Any other torch requirement pulls gigabytes of CUDA packages.
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev]"
	@if $(PIP) list 2>/dev/null | grep -i '^nvidia-'; then \
		echo "error: nvidia-* packages were installed (a dependency asked for another torch build)"; exit 1; fi
	@$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

demo: install
	$(VENV)/bin/amber2 demo --out runs/demo

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: install
	$(PY) benchmarks/train_protocol.py --quick --out runs/bench/train_protocol.quick.json
	$(PY) benchmarks/extract.py --quick --out runs/bench/extract.quick.json
	$(PY) benchmarks/serve.py --quick --out runs/bench/serve.quick.json

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
