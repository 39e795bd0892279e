# The two commands a newcomer needs: `make run` and `make test`. Both create .venv if missing,
# install the project into it (skipped when pyproject.toml has not changed) and go.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

run: $(STAMP)
	$(BIN)/organism up

test: $(STAMP)
	$(BIN)/python -m pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# compile numba's kernels once, before agents or tests start (a cold start takes ~80 s)
	$(BIN)/python -m quant.warmup
	touch $(STAMP)

clean:
	rm -rf $(VENV) data .pytest_cache
