"""``yinshi corpus fetch``: obtain the pinned chinese-poetry npm package and unpack it.

The corpus is pinned to one release, verified by the hashes npm publishes for it, so every
machine trains on the same bytes. npm is only a download tool here; ``--from`` takes a tarball
(verified the same way) or an already unpacked ``package/`` directory for offline machines.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from yinshi.errors import UserError

PACKAGE = "chinese-poetry@2.0.1"
SHA512 = "KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//25K8p3uHNg=="
"""The registry's ``integrity`` (base64 SHA-512) of the release tarball."""
SHA1 = "b6e7e60d0accac7c723d066a5c360549aab8299d"
"""The registry's ``shasum`` (hex SHA-1) of the release tarball."""

_NPM_TIMEOUT_S = 600


def verify(tarball: Path, sha512: str = SHA512, sha1: str = SHA1) -> None:
    """Raise UserError unless the tarball's SHA-512 and SHA-1 are the expected ones."""
    h512, h1 = hashlib.sha512(), hashlib.sha1()
    try:
        with tarball.open("rb") as file:
            while chunk := file.read(1 << 20):
                h512.update(chunk)
                h1.update(chunk)
    except OSError as error:
        raise UserError(f"cannot read {tarball}: {error.strerror}") from None
    got512 = base64.b64encode(h512.digest()).decode()
    if got512 != sha512 or h1.hexdigest() != sha1:
        raise UserError(
            f"checksum mismatch for {tarball}: expected sha512-{sha512} (sha1 {sha1}), "
            f"got sha512-{got512} (sha1 {h1.hexdigest()})"
        )


def npm_pack(workdir: Path, package: str = PACKAGE) -> Path:
    """Download the package tarball into workdir with ``npm pack``; return its path.

    ``--ignore-scripts``: we want the published bytes (checked against their hashes after),
    never to run code from the registry — a package's lifecycle scripts would run as the
    user who trains, before any check.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("npm not found: install Node.js/npm or pass --from")
    try:
        result = subprocess.run(
            [npm, "pack", package, "--ignore-scripts", "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"npm pack {package} timed out (network?); pass --from") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise UserError(f"npm pack {package} failed (network?): {detail}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise UserError(f"npm pack {package} produced no tarball")
    return tarballs[0]


def _install(unpacked: Path, target: Path) -> None:
    """Move a complete package dir to target, replacing an old one only once the new is whole."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".package-old.", dir=target.parent))
        os.replace(target, old / "package")
    os.replace(unpacked, target)
    if old is not None:
        shutil.rmtree(old)


def unpack(tarball: Path, target: Path) -> None:
    """Extract the tarball's ``package/`` to target, via a temp dir beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack.", dir=target.parent))
    try:
        try:
            with tarfile.open(tarball, "r:gz") as archive:
                archive.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UserError(f"cannot unpack {tarball}: {error}") from None
        if not (staging / "package" / "dist").is_dir():
            raise UserError(f"{tarball} has no package/dist: not the chinese-poetry package")
        _install(staging / "package", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_dir(source: Path, target: Path) -> None:
    if not (source / "dist").is_dir():
        raise UserError(f"{source} has no dist/: not an unpacked chinese-poetry package")
    if source.resolve() == target.resolve():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".copy.", dir=target.parent))
    try:
        shutil.copytree(source, staging / "package")
        _install(staging / "package", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch(
    data_dir: Path, source: Path | None = None, sha512: str = SHA512, sha1: str = SHA1
) -> Path:
    """Put the package at ``data_dir/raw/package``; return that path.

    ``source``: None (download with npm), a tarball (verified), or an unpacked package dir
    (taken as is). The hashes are parameters only so tests can use a tiny tarball.
    """
    target = data_dir / "raw" / "package"
    try:
        _fetch_to(target, source, sha512, sha1)
    except OSError as error:
        raise UserError(f"cannot write the package to {target}: {error}") from None
    return target


def _fetch_to(target: Path, source: Path | None, sha512: str, sha1: str) -> None:
    if source is not None and source.is_dir():
        _copy_dir(source, target)
    elif source is not None:
        if not source.is_file():
            raise UserError(f"no such file or directory: {source}")
        verify(source, sha512, sha1)
        unpack(source, target)
    else:
        with tempfile.TemporaryDirectory(prefix="yinshi-npm-") as workdir:
            tarball = npm_pack(Path(workdir))
            verify(tarball, sha512, sha1)
            unpack(tarball, target)
