"""`corpus fetch` downloads with npm but never runs the package's scripts (#14)."""

import shlex
from pathlib import Path

from training.corpus.fetch import npm_pack


def fake_npm(directory: Path, record: Path) -> Path:
    """An ``npm`` that records its arguments and packs an empty tarball, as ``npm pack`` does."""
    npm = directory / "npm"
    npm.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(record))}\n: > pkg.tgz\n')
    npm.chmod(0o755)
    return npm


def test_npm_pack_ignores_lifecycle_scripts(tmp_path, monkeypatch):
    """A compromised or careless release with a ``prepare``/``prepack`` script would run as
    the training user before the integrity check; ``--ignore-scripts`` means npm only fetches.
    Fails before #14: the command had no such flag."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "args.txt"
    fake_npm(bin_dir, record)
    monkeypatch.setenv("PATH", str(bin_dir))
    work = tmp_path / "work"
    work.mkdir()
    assert npm_pack(work, "chinese-poetry@2.0.1") == work / "pkg.tgz"
    args = record.read_text().split()
    assert args[:2] == ["pack", "chinese-poetry@2.0.1"]
    assert "--ignore-scripts" in args
