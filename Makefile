# illfed — `make run` starts the federation, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: install browser run up test test-fast lint format bench soak lock clean-data docs definitions manifests

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): $(UV) requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --quiet --compile-bytecode --python $(VENV)/bin/python requirements.lock
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install  ## the embedded federation: one process, SQLite, in-process bus
	$(VENV)/bin/python -m deploy.launch run

up: install  ## the distributed federation: a process per service and library, PostgreSQL, RabbitMQ
	$(VENV)/bin/python -m deploy.launch up

# The browser tests drive Debian's chromium (and a font with Chinese characters for their
# screenshots); nothing downloads a browser of its own.
browser:  ## install Debian's chromium for the browser tests, unless it is there
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || apt-get install -y -qq fonts-wqy-zenhei || true

test: install browser  ## every test (needs the local PostgreSQL and RabbitMQ)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

test-fast: install  ## unit tests only
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit

lint: install  ## style, format, architecture (import-linter) and types (mypy)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install  ## the short benchmark suite, one table (python -m bench --help for the long runs)
	$(VENV)/bin/python -m bench

SOAK_CHANGES ?= 5000
SOAK_LOANS ?= 1000
soak: install  ## the fault scenarios of tests/faults with thousands of changes and 1,000 whole ILL loans; prints the counts
	$(VENV)/bin/python -m tests.faults.soak --changes $(SOAK_CHANGES) --loans $(SOAK_LOANS)

docs: install  ## regenerate the message contracts' AsyncAPI document and the ILL state diagrams
	$(VENV)/bin/python -m libs.common.contracts.schema docs/asyncapi.json
	$(VENV)/bin/python -m deploy.ill_states docs/ill-states.md

definitions: install  ## regenerate deploy/rabbitmq/definitions.json from the topology code
	$(VENV)/bin/python -m deploy.rabbitmq_definitions

manifests: install  ## regenerate deploy/compose.yaml and deploy/k8s/ from deploy/federation.toml
	$(VENV)/bin/python -m deploy.manifests

lock: $(UV)  ## re-pin every dependency after editing pyproject.toml
	$(UV) pip compile pyproject.toml --group dev --python-version 3.11 --no-header -q -o requirements.lock
	# The container image's: runtime dependencies only, at the very versions pinned above.
	$(UV) pip compile pyproject.toml --python-version 3.11 --no-header -q -c requirements.lock -o deploy/requirements.runtime.lock

clean-data:  ## forget the embedded federation's data (it is re-seeded on the next run)
	rm -rf data
