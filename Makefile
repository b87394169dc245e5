# The contract's commands. `make setup` is idempotent and fast when nothing changed.
PYTHON      ?= python3
VENV        ?= .venv
# CPU build by default. On a CUDA machine: make setup TORCH_SPEC="torch" (or a --index-url for your CUDA).
TORCH_SPEC  ?= torch==2.13.0
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed

.PHONY: setup demo test build lab wheel site clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[instructor,dev,site]"
	$(BIN)/python -m autograder.kernelspec
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m autograder demo

test: setup
	$(BIN)/python -m pytest

build: setup
	$(BIN)/python -m autograder build

# The environment first on PATH for the server, its terminals and kernels (`python`, `alembic`).
lab: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab

# A wheel of the kit for students outside the repository: `pip install attention_course_kit-*.whl`
# gives the student part (the instructor tools are the [instructor] extra).
wheel: setup
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist .
	@ls dist/*.whl

# The course website for self-study: executes the lectures (2 at a time, into build/executed/),
# then writes static HTML to build/site/ (open build/site/index.html; works offline, from disk).
site: setup
	$(BIN)/python -m autograder site --out build/site --jobs 2

clean:
	rm -rf $(VENV) demo_output gradebook.db .pytest_cache dist build
