# Two commands do all the set-up on a fresh machine with Python 3.11, in either order, any number of times:
#   make demo    - create .venv, install, run the mini reproduction (papermill, notebooks in order) into runs/<time>/
#   make test    - create .venv, install, check notebooks are clean and exported, ruff, nbdev-test, then pytest
# Neither writes a tracked file: the run's tables and figures stay in its run folder, the tests' under runs/test/.
#   make publish - the mini reproduction, then its tables and figures copied over the committed tables/ and figures/
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= mini

.PHONY: demo publish test install sync-check lint nbtest pytest bench gpu-wheels clean-runs

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

publish: $(STAMP)
	$(BIN)/st-vlm-repro reproduce --profile $(PROFILE) --publish

# The sync check of nbdev's own CI, on what nbdev generates only (nbs/ and the package): nothing there may change
# after nbdev-clean, nor after nbdev-export. Run outputs elsewhere in the tree (runs/, data/) do not matter here.
SYNC_PATHS := nbs st_vlm_repro
SYNC_STATE  = { git status --porcelain -- $(SYNC_PATHS); git diff -- $(SYNC_PATHS); } | cksum
sync-check: $(STAMP)
	@before="$$($(SYNC_STATE))"; \
	$(BIN)/nbdev-clean && after="$$($(SYNC_STATE))" && \
	{ test "$$before" = "$$after" || { echo "Unclean notebooks: run nbdev-clean and commit:"; \
	  git status --porcelain -- $(SYNC_PATHS); exit 1; }; } && \
	$(BIN)/nbdev-export && after="$$($(SYNC_STATE))" && \
	{ test "$$before" = "$$after" || { echo "Notebooks and library out of sync: run nbdev-export and commit:"; \
	  git status --porcelain -- $(SYNC_PATHS); exit 1; }; }

# The tests' notebooks write their tables and figures under runs/test/, never over the committed ones.
nbtest pytest: export ST_VLM_FIGURES_DIR := $(CURDIR)/runs/test/figures
nbtest pytest: export ST_VLM_TABLES_DIR := $(CURDIR)/runs/test/tables

nbtest: $(STAMP)
	$(BIN)/nbdev-test --n-workers 2

pytest: $(STAMP)
	$(BIN)/python -m pytest

# The style gate ([tool.ruff] in pyproject.toml): one statement per line, 120 columns, no unused imports; the
# notebooks are linted as they are written.
lint: $(STAMP)
	$(BIN)/ruff check .

test: sync-check lint nbtest pytest

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
