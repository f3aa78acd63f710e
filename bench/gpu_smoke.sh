#!/bin/sh
# The first GPU machine's checklist in one command (at most 5 minutes on one GPU):
#   bench/gpu_smoke.sh                      # on the GPU; summary in results/bench/gpu_smoke.md
#   bench/gpu_smoke.sh --cpu                # the same checks with the CPU as the device
#   bench/gpu_smoke.sh --paper-minutes 20   # then the paper-scale atmo study, if time remains
# Needs the project's venv (make setup) and, for the hydride and paper-scale checks, the data
# mirror (COMPGEN_DATA_MIRROR, else ../shared/data). What each check does: bench/gpu_smoke.py.
set -eu
cd "$(dirname "$0")/.."
# make setup only when there is no venv: a stale one would reinstall, which needs the network.
[ -x .venv/bin/python ] || make --quiet setup
exec .venv/bin/python bench/gpu_smoke.py "$@"
