# The two commands a newcomer needs: `make run` and `make test`. Both create .venv if missing,
# install the project into it (skipped when pyproject.toml has not changed) and go. Both first
# make sure numba's kernels are compiled for this version of quant/ (~80 s after a change to
# it, ~1.5 s otherwise), so agents and tests do not all compile them at once (quant/__init__.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

run: $(STAMP)
	$(BIN)/python -m quant.warmup
	$(BIN)/organism up

test: $(STAMP)
	$(BIN)/python -m quant.warmup
	$(BIN)/python -m pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) data .pytest_cache
