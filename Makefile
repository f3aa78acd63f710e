# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the project into it when pyproject.toml is
# newer than the last install, and do nothing extra otherwise.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
INSTALLED := $(VENV)/.installed

.PHONY: run test setup clean-venv

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	# torch first, by exact version: an unpinned resolve would pull the CUDA build.
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest

clean-venv:
	rm -rf $(VENV)
