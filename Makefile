# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KNBC := $(VENV)/bin/knbc
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel first: a plain `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(KNBC) corpus stats --ginza
	$(KNBC) corpus splits --check
	$(KNBC) corpus export --format parquet --out $(OUT)/knbc.parquet --overwrite
	$(KNBC) corpus export --format parquet --level token --out $(OUT)/knbc-tokens.parquet --overwrite
	$(KNBC) corpus export --format spacy --out $(OUT)/docbin --overwrite
	$(KNBC) corpus coverage

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
