# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo  - create .venv, install, run the mini reproduction (papermill, notebooks in order) into runs/
#   make test  - create .venv, install, check notebooks are clean and exported, nbdev-test, then pytest
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= mini

.PHONY: demo test install sync-check nbtest pytest bench gpu-wheels clean-runs

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/st-vlm-repro reproduce --profile $(PROFILE)

# The sync check of nbdev's own CI: nothing may change after nbdev-clean, nor after nbdev-export.
sync-check: $(STAMP)
	@test -z "$$(git status --porcelain)" || { echo "Working tree not clean before the sync check:"; git status --porcelain; exit 1; }
	$(BIN)/nbdev-clean
	@test -z "$$(git status --porcelain)" || { echo "Unclean notebooks: run nbdev-clean and commit:"; git status --porcelain; exit 1; }
	$(BIN)/nbdev-export
	@test -z "$$(git status --porcelain)" || { echo "Notebooks and library out of sync: run nbdev-export and commit:"; git status --porcelain; exit 1; }

nbtest: $(STAMP)
	$(BIN)/nbdev-test --n-workers 2

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: sync-check nbtest pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/kinematics.py

# Wheels (Python 3.12, manylinux) that benchmarks/gpu_check.sh installs on a GPU machine without network access.
gpu-wheels:
	mkdir -p .whl && grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
	python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
	  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection av==19.0.2 transformers==5.24.0

clean-runs:
	rm -rf runs
