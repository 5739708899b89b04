# The README's two commands: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint bench model demo-wavs clean

# The device runtime only: no torch.
$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

# Training/export extra and test tools on top (torch==2.13.0, CPU build).
$(VENV)/.test: $(VENV)/.runtime
	$(PIP) install -e '.[distill,test,cast,bridge,llm]'
	touch $@

run: $(VENV)/.runtime
	$(VENV)/bin/edge run

test: $(VENV)/.test
	$(PY) -m pytest -q

bench: $(VENV)/.test
	$(PY) -m bench.turn_latency

# Rebuild the shipped intent model bundle (about 10 minutes on 2 cores).
model: $(VENV)/.test
	$(PY) -m distill.baseline --out edge/models/hwu64-minilm-int8

demo-wavs: $(VENV)/.test
	$(PY) -m edge.demo.make

clean:
	rm -rf $(VENV) out .pytest_cache
