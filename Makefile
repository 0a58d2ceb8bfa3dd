# Task runner. `make demo` and `make test` are the README quickstart; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip

.PHONY: install demo test test-train lint unit bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(VENV)/bin/emendo kafka install >/dev/null
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/emendo demo

lint: install
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest -m "not kafka and not slow and not gpu"

test: lint
	$(PY) -m pytest -m "not slow and not gpu"

# Training/export tests need torch (a large CUDA build from PyPI): a separate venv, not in `make test`.
$(VENV)-train/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)-train
	$(VENV)-train/bin/python -m pip install -q -e '.[dev,train]'
	touch $@

test-train: $(VENV)-train/.installed
	$(VENV)-train/bin/python -m pytest tests/test_models_train.py tests/test_dlm_export.py tests/test_inputs.py tests/test_fastdecode.py tests/test_entities_trees.py

bench: install
	$(PY) bench/rescore_hyporadise.py
	$(PY) bench/stream_throughput.py

clean:
	rm -rf $(VENV) .emendo .pytest_cache .mypy_cache .ruff_cache
