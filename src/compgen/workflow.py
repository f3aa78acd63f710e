"""Glue between Snakemake's `script:` jobs and the library."""

from __future__ import annotations

import contextlib
import logging
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
        except BaseException as error:
            job = logging.getLogger("compgen.job")
            job.exception("job failed")
            # The traceback is for developers; the last line says what went wrong in words.
            reason = failure_line(error)
            job.error("compgen job failed: %s", reason)
            print(f"compgen job failed: {reason} (details in {log_path})", file=sys.__stderr__)
            raise
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(previous_level)


@contextlib.contextmanager
def job(smk) -> Iterator[logging.Logger]:
    """A `script:` job: its log (`job_logging`) and its device, by what its rule declares (`compgen.device`)."""
    from compgen import device

    with job_logging(smk.log[0]) as logger:
        device.declare_job(getattr(smk.resources, "gpu", 0), smk.config.get("device"))
        yield logger


def failure_line(error: BaseException) -> str:
    """One line naming the kind of failure and its message."""
    message = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {message}"


class Progress:
    """A log line with count, rate and ETA for a job's long loop of known length."""

    def __init__(self, what: str, total: int, unit: str = "step", done: int = 0):
        """`done`: already finished before this run (a resumed job); the rate counts only this run's."""
        import time

        self.what, self.total, self.unit, self.done, self._start = what, total, unit, done, done
        self._clock = time.perf_counter
        self._began = self._clock()
        self._log = logging.getLogger("compgen.progress")

    def advance(self, note: str = "") -> None:
        self.advance_by(1, note)

    def advance_by(self, count: int, note: str = "") -> None:
        from datetime import timedelta

        self.done += count
        rate = (self.done - self._start) / max(self._clock() - self._began, 1e-9)
        eta = timedelta(seconds=round((self.total - self.done) / rate)) if rate > 0 else "?"
        self._log.info("%s %d/%d %s  (%.2f %ss/s, ETA %s)", self.what, self.done, self.total, note, rate, self.unit, eta)
