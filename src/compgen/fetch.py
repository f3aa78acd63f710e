"""Raw files: taken from their public address or a local mirror, always SHA-256 verified."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pooch

from compgen.io import atomic_path

log = logging.getLogger(__name__)

MIRROR_ENV = "COMPGEN_DATA_MIRROR"


class ChecksumError(RuntimeError):
    pass


class UnreachableSource(RuntimeError):
    """A raw file whose public address did not answer (no network, a proxy, the host down)."""


@dataclass(frozen=True)
class Source:
    """One raw file: where it lives publicly, where in a mirror, and its SHA-256."""

    name: str
    repo: str
    commit: str
    path: str
    sha256: str
    mirror_path: str

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"

    @classmethod
    def from_config(cls, name: str, entry: dict) -> Source:
        return cls(name=name, **{k: entry[k] for k in ("repo", "commit", "path", "sha256", "mirror_path")})


def resolve_mirror(configured: str | None) -> Path | None:
    """The mirror directory: the environment variable wins over the config value."""
    chosen = os.environ.get(MIRROR_ENV) or configured
    return Path(chosen).expanduser().resolve() if chosen else None


def verify_sha256(path: Path, source: Source) -> None:
    actual = pooch.file_hash(str(path), alg="sha256")
    if actual != source.sha256.lower():
        raise ChecksumError(
            f"{source.name}: SHA-256 mismatch (expected {source.sha256}, got {actual}); "
            f"the file is not the published one and was not kept"
        )


def download(source: Source, path: Path) -> None:
    """Download `source` to `path`; a network failure becomes one line that names the file, the address and the way around it."""
    import requests

    try:
        pooch.HTTPDownloader(timeout=120)(source.url, str(path), None)
    except requests.exceptions.RequestException as error:
        reason = type(error).__name__
        if isinstance(error, requests.exceptions.HTTPError) and error.response is not None:
            reason = f"HTTP {error.response.status_code}"
        raise UnreachableSource(
            f"{source.name} could not be fetched from {source.url} ({reason}). Without internet, point the workflow at a "
            f"local copy of the raw files: set {MIRROR_ENV} to a directory holding {source.mirror_path} (README, "
            f"'Without internet: a local data mirror')"
        ) from None


def fetch(source: Source, dest: str | os.PathLike, mirror: Path | None = None) -> Path:
    """Copy `source` from `mirror` (or download it) to `dest`, verified; nothing is left at `dest` on failure."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        if mirror is not None:
            origin = mirror / source.mirror_path
            if not origin.is_file():
                raise FileNotFoundError(f"{source.name}: not in the data mirror (looked for {origin})")
            log.info("copying %s from mirror %s", source.name, origin)
            shutil.copyfile(origin, tmp)
        else:
            log.info("downloading %s from %s", source.name, source.url)
            download(source, tmp)
        verify_sha256(tmp, source)
        log.info("%s verified (sha256 %s)", source.name, source.sha256)
    return dest
