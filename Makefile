# Two commands do all the set-up: `make demo` and `make test`.
# The stamp file is newer than pyproject.toml once installed, so a second run
# goes straight to work instead of reinstalling.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.torchprimer-installed

.PHONY: demo test lint bench screenshot clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/torchprimer train

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/torchprimer bench

# The README's playground picture, taken by the browser test itself.
screenshot: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_ui_browser.py -k spirals
	cp test-artifacts/playground.png docs/playground.png

clean:
	rm -rf runs .pytest_cache .ruff_cache test-artifacts
