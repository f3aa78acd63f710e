"""Glue between Snakemake's `script:` jobs and the library."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def job_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send logging, warnings, stderr (tqdm) and any uncaught error of the job to its log file."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as stream, contextlib.redirect_stderr(stream):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        previous_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            yield logging.getLogger("compgen.job")
        except BaseException:
            logging.getLogger("compgen.job").exception("job failed")
            # Snakemake shows the script's stderr; say where the details are.
            print(f"compgen job failed: see {log_path}", file=sys.__stderr__)
            raise
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(previous_level)


def keyed_inputs(inputs, pattern: str) -> dict[tuple, str]:
    """A job's named inputs whose key matches `pattern`, keyed by its groups (whole numbers as int).

    Rules hand a job a variable number of model files under keys such as
    `augcyc_fold0_seed1`; this turns them back into ('augcyc', 0, 1).
    """
    found = {}
    for key, path in inputs.items():
        match = re.fullmatch(pattern, key)
        if match:
            found[tuple(int(g) if g.isdigit() else g for g in match.groups())] = path
    return found
