# Two commands set the course up on a fresh machine (Python >= 3.10):
#   make lab    create .venv if needed, install everything, open JupyterLab on the course
#   make test   same set-up, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_PORT ?= 8888
LAB_TOKEN ?=
LAB_BROWSER ?= true
PYTEST_ARGS ?=
ASSIGNMENTS ?= build/nbgrader

.PHONY: lab serve-lab test course bench bench-one-core bench-alone checkpoints check lint data assignments clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements-dev.txt
	$(PY) -m pip install -e . --no-deps
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	touch $(STAMP)

lab: $(STAMP)
	$(PY) -m course_utils check || true
	$(MAKE) --no-print-directory serve-lab

# The JupyterLab server on 127.0.0.1 with a token (a fresh random one unless LAB_TOKEN is set);
# `make lab` and the tests both use it. Jupyter hides a token it was given, so print the link here.
serve-lab:
	@token="$(LAB_TOKEN)"; [ -n "$$token" ] || token=$$($(PYTHON) -c "import secrets; print(secrets.token_hex(16))"); \
	echo ""; echo "    The course: http://127.0.0.1:$(LAB_PORT)/lab/tree/notebooks/00_start_here.ipynb?token=$$token"; echo ""; \
	exec $(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --IdentityProvider.token=$$token \
		--ServerApp.root_dir=$(CURDIR) --ServerApp.open_browser=$(LAB_BROWSER) --allow-root \
		--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

course: $(STAMP)
	$(PY) -m course_utils.tools.lesson_runner

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The same sections pinned to one core, one thread: the "one core" column (a CPU twice as slow).
bench-one-core: $(STAMP)
	$(PY) benchmarks/run.py --one-core

# The lessons that load earlier lessons' checkpoints, each alone with none (added to the last two-core run).
bench-alone: $(STAMP)
	$(PY) benchmarks/run.py --only alone

# The reference checkpoints in reference/ (lesson 03's FCN-8s and lesson 07's Mask R-CNN, trained with the
# lessons' recipes), which a lesson uses when the learner has not run the lesson that trains the model.
checkpoints: $(STAMP)
	$(PY) -m course_utils.tools.reference

check: $(STAMP)
	$(PY) -m course_utils check

lint: $(STAMP)
	$(VENV)/bin/ruff check course_utils tests benchmarks notebooks

data: $(STAMP)
	$(PY) -m course_utils make-data

# An nbgrader course folder (one assignment per lesson with a mini assignment) in $(ASSIGNMENTS).
assignments: $(STAMP)
	$(PY) -m course_utils nbgrader $(ASSIGNMENTS)

clean:
	rm -rf build checkpoints .pytest_cache
