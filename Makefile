# The targets a newcomer needs. Everything is installed here, from pyproject.toml,
# into .venv: nothing is expected on the machine beyond python3 with venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test bench unit integration lint format install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fairwatch demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-alertmanager.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-stunnel.sh
	$(BIN)/python -m pytest tests -q

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# fairwatch against raw aiokafka, bare Faust and Quix Streams; writes bench-results.json (README: Benchmark).
bench: $(BENCH_STAMP)
	$(BIN)/fairwatch bench $(ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

integration: $(STAMP)
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-alertmanager.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-stunnel.sh
	$(BIN)/python -m pytest tests/integration -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
