import os
import re
import sys
from pathlib import Path

# Scripts import the compgen library from this checkout, whichever environment
# (venv, conda env, cluster node) runs them.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from compgen.registry import DATASETS  # noqa: E402

SOURCES = config["sources"]


wildcard_constraints:
    source="|".join(map(re.escape, SOURCES)),
    dataset="|".join(map(re.escape, DATASETS)),


def raw_path(source):
    return f"results/raw/{source}"


def dataset_raw_inputs(wildcards):
    """The raw files a dataset is built from, named by source so the script can look them up."""
    return {
        source: raw_path(source) for source in DATASETS[wildcards.dataset]["sources"]
    }
