# The contract's commands. `make setup` is idempotent and fast when nothing changed.
PYTHON      ?= python3
VENV        ?= .venv
# CPU build by default. On a CUDA machine: make setup TORCH_SPEC="torch" (or a --index-url for your CUDA).
TORCH_SPEC  ?= torch==2.13.0
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed

.PHONY: setup demo test build lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m autograder.kernelspec
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m autograder demo

test: setup
	$(BIN)/python -m pytest

build: setup
	$(BIN)/python -m autograder build

lab: setup
	$(BIN)/jupyter lab

clean:
	rm -rf $(VENV) demo_output gradebook.db .pytest_cache
