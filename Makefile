# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the project into it when pyproject.toml is
# newer than the last install, and do nothing extra otherwise.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
# Training jobs ask for gpu=1 each. With GPUs, as many run at once as there are GPUs; on a
# CPU-only machine the token only spaces them out, so allow one per core. GPUs are counted
# from CUDA_VISIBLE_DEVICES when it is set (its indices or UUIDs up to the first invalid entry,
# where CUDA stops: empty, -1 or NoDevFiles give none), else from the "GPU n:" lines of
# nvidia-smi -L (not its MIG lines, nor "No devices were found").
GPU_SLOTS ?= $(shell \
	if [ -n "$${CUDA_VISIBLE_DEVICES+set}" ]; then \
		n=$$(printf '%s' "$$CUDA_VISIBLE_DEVICES" | awk -F, '{ for (i = 1; i <= NF && $$i ~ /^([0-9]+|GPU-.*|MIG-.*)$$/; i++) n++ } END { print n + 0 }'); \
	else \
		n=$$(nvidia-smi -L 2>/dev/null | grep -c '^GPU [0-9]'); \
	fi; \
	if [ "$${n:-0}" -gt 0 ]; then echo $$n; else nproc; fi)
INSTALLED := $(VENV)/.installed

.PHONY: run test report cluster setup clean-venv

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	# torch first, by exact version. From the public index on Linux this is the CUDA build; this
	# project's CI machine supplies a CPU build of the same version from a local file. For the
	# other build, install it into .venv first from PyTorch's index (README, "GPUs").
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# The Materials Project client ([mp] extra): only the test suite's local API server needs it
# (users with a key install it themselves: README, "Materials Project data").
$(VENV)/.installed-mp: $(INSTALLED)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,mp]'
	touch $@

setup: $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/snakemake --cores $(CORES) --resources gpu=$(GPU_SLOTS)

# One HTML page with every figure and main table of the last run, captions beside the papers' numbers.
report: $(INSTALLED)
	$(VENV)/bin/snakemake --report results/report.html

# A one-node SLURM cluster with accounting (Debian's slurm-wlm, slurmdbd, munge, MariaDB) for
# the cluster test and for trying profiles/slurm; needs root. `make test` never installs it.
cluster: $(INSTALLED)
	$(VENV)/bin/python -m pip install --quiet -e '.[slurm]'
	profiles/slurm/testcluster/start.sh

test: $(INSTALLED) $(VENV)/.installed-mp
	$(VENV)/bin/python -m pytest

clean-venv:
	rm -rf $(VENV)
