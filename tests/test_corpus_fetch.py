"""`corpus fetch`: verify and unpack a tarball, take an unpacked dir, fail clearly."""

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from training.corpus import fetch as fetch_module
from training.corpus.fetch import fetch, verify
from yinshi.cli import main
from yinshi.errors import UserError


def make_tarball(path: Path, files: dict[str, str]) -> tuple[str, str]:
    """A gzip tarball like npm's (entries under package/); returns its (sha512 b64, sha1 hex)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    blob = path.read_bytes()
    return base64.b64encode(hashlib.sha512(blob).digest()).decode(), hashlib.sha1(blob).hexdigest()


PACKAGE = {"package.json": '{"name": "chinese-poetry"}', "dist/shijing/shijing.json": "[]"}


def test_good_tarball_is_unpacked_into_data_raw_package(tmp_path):
    tarball = tmp_path / "p.tgz"
    sha512, sha1 = make_tarball(tarball, PACKAGE)
    target = fetch(tmp_path / "data", tarball, sha512=sha512, sha1=sha1)
    assert target == tmp_path / "data/raw/package"
    assert (target / "dist/shijing/shijing.json").read_text() == "[]"
    assert [p.name for p in target.parent.iterdir()] == ["package"]  # no temp dirs left


def test_refetch_replaces_the_old_package(tmp_path):
    old = tmp_path / "data/raw/package/dist"
    old.mkdir(parents=True)
    (old / "stale.json").write_text("{}")
    tarball = tmp_path / "p.tgz"
    sha512, sha1 = make_tarball(tarball, PACKAGE)
    target = fetch(tmp_path / "data", tarball, sha512=sha512, sha1=sha1)
    assert not (target / "dist/stale.json").exists()
    assert (target / "package.json").exists()


def test_corrupt_tarball_names_expected_and_actual_hash(tmp_path):
    tarball = tmp_path / "p.tgz"
    sha512, sha1 = make_tarball(tarball, PACKAGE)
    tarball.write_bytes(tarball.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="checksum mismatch") as error:
        fetch(tmp_path / "data", tarball, sha512=sha512, sha1=sha1)
    assert sha512 in str(error.value) and "got sha512-" in str(error.value)
    assert not (tmp_path / "data/raw/package").exists()


def test_cli_checks_the_pinned_hash(tmp_path, capsys):
    tarball = tmp_path / "p.tgz"
    make_tarball(tarball, PACKAGE)
    code = main(["corpus", "fetch", "--from", str(tarball), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert fetch_module.SHA512 in err and "Traceback" not in err


def test_a_tarball_without_the_package_is_refused(tmp_path):
    tarball = tmp_path / "p.tgz"
    sha512, sha1 = make_tarball(tarball, {"README.md": "hi"})
    with pytest.raises(UserError, match="not the chinese-poetry package"):
        fetch(tmp_path / "data", tarball, sha512=sha512, sha1=sha1)


def test_verify_accepts_the_right_hashes(tmp_path):
    tarball = tmp_path / "p.tgz"
    sha512, sha1 = make_tarball(tarball, PACKAGE)
    verify(tarball, sha512, sha1)
    with pytest.raises(UserError):
        verify(tarball, sha512, "0" * 40)


def test_an_unpacked_dir_is_taken_as_is(tmp_path, fixture_raw):
    target = fetch(tmp_path / "data", fixture_raw)
    assert (target / "dist/songci/ci.song.0.json").read_bytes() == (
        fixture_raw / "dist/songci/ci.song.0.json"
    ).read_bytes()
    with pytest.raises(UserError, match="no dist/"):
        fetch(tmp_path / "data", tmp_path)


def test_missing_npm_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["corpus", "fetch", "--data-dir", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err.strip() == (
        "yinshi: error: npm not found: install Node.js/npm or pass --from"
    )


def test_npm_failure_is_one_line(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "npm"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'npm error code ENOTFOUND' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(UserError, match="failed \\(network\\?\\): npm error code ENOTFOUND"):
        fetch(tmp_path / "data")
