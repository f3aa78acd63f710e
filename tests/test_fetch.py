import hashlib
import shutil

import pytest

from compgen.fetch import MIRROR_ENV, ChecksumError, Source, UnreachableSource, fetch, resolve_mirror


def _source(tmp_path, content: bytes, sha256: str | None = None) -> tuple[Source, object]:
    mirror = tmp_path / "mirror"
    (mirror / "sub").mkdir(parents=True)
    (mirror / "sub" / "file.csv").write_bytes(content)
    source = Source(
        name="file.csv",
        repo="owner/repo",
        commit="0" * 40,
        path="data/file.csv",
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
        mirror_path="sub/file.csv",
    )
    return source, mirror


def test_verified_copy_from_mirror(tmp_path):
    source, mirror = _source(tmp_path, b"a,b\n1,2\n")
    out = fetch(source, tmp_path / "raw" / "file.csv", mirror)
    assert out.read_bytes() == b"a,b\n1,2\n"
    assert [p.name for p in out.parent.iterdir()] == ["file.csv"]  # no temporary left behind


def test_checksum_mismatch_names_file_and_both_hashes_and_leaves_nothing(tmp_path):
    expected = hashlib.sha256(b"the published bytes").hexdigest()
    source, mirror = _source(tmp_path, b"corrupted bytes", sha256=expected)
    dest = tmp_path / "raw" / "file.csv"
    with pytest.raises(ChecksumError) as err:
        fetch(source, dest, mirror)
    message = str(err.value)
    assert "file.csv" in message
    assert expected in message
    assert hashlib.sha256(b"corrupted bytes").hexdigest() in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_existing_output_is_not_clobbered_by_a_bad_copy(tmp_path):
    source, mirror = _source(tmp_path, b"good")
    dest = fetch(source, tmp_path / "raw" / "file.csv", mirror)
    (mirror / "sub" / "file.csv").write_bytes(b"tampered")
    with pytest.raises(ChecksumError):
        fetch(source, dest, mirror)
    assert dest.read_bytes() == b"good"


def test_missing_mirror_file_says_where_it_looked(tmp_path):
    source, mirror = _source(tmp_path, b"x")
    (mirror / "sub" / "file.csv").unlink()
    with pytest.raises(FileNotFoundError, match="sub/file.csv"):
        fetch(source, tmp_path / "raw" / "file.csv", mirror)


class _Unresolvable(Source):
    @property
    def url(self) -> str:
        return "https://compgen-no-such-host.invalid/data/file.csv"  # .invalid never resolves (RFC 2606)


def test_an_address_that_cannot_resolve_names_the_file_the_address_and_the_mirror(tmp_path):
    source, _ = _source(tmp_path, b"x")
    source = _Unresolvable(**source.__dict__)
    dest = tmp_path / "raw" / "file.csv"
    with pytest.raises(UnreachableSource) as failure:
        fetch(source, dest, mirror=None)
    message = str(failure.value)
    assert message.startswith("file.csv could not be fetched from https://compgen-no-such-host.invalid/data/file.csv (ConnectionError)")
    assert MIRROR_ENV in message and "sub/file.csv" in message and "Without internet" in message
    assert failure.value.__cause__ is None and "HTTPSConnectionPool" not in message  # one line, not the raw traceback
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_url_is_the_raw_address_at_the_pinned_commit():
    source = Source("a.csv", "qai222/CompAugCycleGAN", "a" * 40, "cacgan/data/atmo.csv", "0" * 64, "atmo/atmo.csv")
    assert source.url == f"https://raw.githubusercontent.com/qai222/CompAugCycleGAN/{'a' * 40}/cacgan/data/atmo.csv"


def test_environment_variable_overrides_configured_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPGEN_DATA_MIRROR", str(tmp_path))
    assert resolve_mirror("/somewhere/else") == tmp_path.resolve()
    monkeypatch.delenv("COMPGEN_DATA_MIRROR")
    assert resolve_mirror(str(tmp_path)) == tmp_path.resolve()
    assert resolve_mirror(None) is None


def test_every_configured_source_matches_its_mirror_copy(mirror, default_config):
    for name, entry in default_config["sources"].items():
        source = Source.from_config(name, entry)
        digest = hashlib.sha256((mirror / source.mirror_path).read_bytes()).hexdigest()
        assert digest == source.sha256, name


def test_corrupted_mirror_fails_the_workflow_job_and_leaves_no_output(tmp_path, mirror, default_config):
    from conftest import run_workflow

    bad_mirror = tmp_path / "mirror"
    shutil.copytree(mirror / "atmo", bad_mirror / "atmo")
    (bad_mirror / "atmo" / "atmo.csv").chmod(0o644)
    with open(bad_mirror / "atmo" / "atmo.csv", "ab") as handle:
        handle.write(b"\n")
    work = tmp_path / "work"
    result = run_workflow(work, ["results/raw/atmo.csv"], default_config, bad_mirror)
    assert result.returncode != 0
    raw = work / "results" / "raw"
    assert not raw.exists() or list(raw.iterdir()) == []
    log = (work / "logs" / "fetch" / "atmo.csv.log").read_text()
    assert "SHA-256 mismatch" in log
    assert default_config["sources"]["atmo.csv"]["sha256"] in log
