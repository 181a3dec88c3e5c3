# The README's two commands: `make run` and `make test`. Each target creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint screenshots clean messages

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/synpunkt db upgrade
	$(BIN)/synpunkt serve

# On every core: each test has its own databases, ports and folders, so they run side by side.
test: $(STAMP)
	$(BIN)/pytest -q -n auto --dist worksteal

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# The inbox list and a case page at 1366 and 390 px into docs/screenshots/ (Debian's Chromium).
screenshots: $(STAMP)
	$(BIN)/python -m tests.screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The citizen texts' catalogues (inbox/core/i18n.py): extract the Swedish texts from the code and
# templates, merge them into every language's .po, and compile the .mo files (both are committed).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext:2 -k i18n.gettext:2 --no-location \
		--sort-output --project Synpunkt -o inbox/locale/messages.pot .
	$(BIN)/pybabel update -i inbox/locale/messages.pot -d inbox/locale --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d inbox/locale --statistics

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
