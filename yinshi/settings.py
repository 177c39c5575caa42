"""Settings of the processes that talk to the queue, read from the environment.

Defaults work on a laptop: with no ``REDIS_URL`` an embedded Redis is started under the data
dir. Values come from the environment, then from ``.env`` in the working directory (see
``.env.example``). Environment names are the field names upper-cased with the ``YINSHI_``
prefix, except ``REDIS_URL`` (the name every Redis tool knows):

All processes:
    ``REDIS_URL``: ``redis://host:6379/0``, ``unix:///path.sock``, or Sentinel:
    ``redis+sentinel://host:26379,host2:26379/mymaster/0``; unset = embedded Redis.
    ``REDIS_PASSWORD``: Redis's ``requirepass``, kept out of the URL; unset = none.
    ``YINSHI_DATA_DIR``: where the embedded Redis keeps its files (``data``).
    ``YINSHI_TIMEOUT_S``: how long a requester waits for its poem. The workers read it too:
    their recovery settings are checked against it (see ``WorkerSettings``).
Clients (the bot, ``yinshi ask``):
    ``YINSHI_MAX_QUEUE``: backlog above which requests are refused at once (Busy).
Worker:
    ``YINSHI_WORKER_NAME``: consumer name; unset = the host name (``-2``, ``-3`` … when a live
    worker on the same host holds it), so a restarted worker resumes its own jobs.
    ``YINSHI_MAX_BATCH``, ``YINSHI_MAX_WAIT_MS``: dynamic batching.
    ``YINSHI_HEARTBEAT_TTL_MS``, ``YINSHI_STUCK_AFTER_S``, ``YINSHI_CLAIM_EVERY_MS``,
    ``YINSHI_CLAIM_IDLE_MS``, ``YINSHI_MAX_DELIVERIES``: liveness and recovery.
    ``YINSHI_METRICS_PORT``: Prometheus ``/metrics`` and ``/healthz``; unset = off.
    ``YINSHI_METRICS_HOST``: the address they listen on (``127.0.0.1``; ``0.0.0.0`` for a
    Prometheus on another host).
    ``YINSHI_MODEL_DIR``, ``YINSHI_DEVICE``, ``YINSHI_THREADS``: which checkpoint, on what.
    ``YINSHI_DISCRIMINATOR_ALPHA``: weight of the discriminator in reranking (0 = off).
Bot:
    ``TELEGRAM_BOT_TOKEN``: from @BotFather.
    ``YINSHI_BOT_BASE_URL``: Bot API server (``https://api.telegram.org/bot``; a local or fake
    one).
    ``YINSHI_ADMIN_IDS``: user ids, comma-separated, who may change any chat's settings.
    ``YINSHI_TIMEZONE``, ``YINSHI_RATE_PER_MINUTE``, ``YINSHI_INLINE_TIMEOUT_S``,
    ``YINSHI_DAILY_LEAD_S``: defaults and limits.
    ``YINSHI_BOT_MODE`` (``polling`` default, or ``webhook``), ``YINSHI_WEBHOOK_URL``,
    ``YINSHI_WEBHOOK_PORT``, ``YINSHI_WEBHOOK_SECRET``, ``YINSHI_HEALTH_PORT``.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class QueueSettings(BaseSettings):
    """What every process on the queue needs to find it."""

    model_config = SettingsConfigDict(
        env_prefix="YINSHI_", env_file=".env", extra="ignore", populate_by_name=True
    )

    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_password: SecretStr | None = Field(default=None, validation_alias="REDIS_PASSWORD")
    data_dir: Path = Path("data")
    timeout_s: float = Field(
        default=60.0, gt=0, description="how long a requester waits; workers plan recovery by it"
    )

    @field_validator("redis_password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """``REDIS_PASSWORD=`` as .env.example has it means no password, not an empty one."""
        return None if value == "" else value


class ClientSettings(QueueSettings):
    """A process that asks for poems: the bot, `yinshi ask`."""

    max_queue: int = Field(
        default=1000, ge=1, description="backlog limit of each lane (users', background)"
    )


class WorkerSettings(QueueSettings):
    """A generation worker.

    Recovery is planned against the requester's wait (``timeout_s``): a job held by a worker
    that died is taken over once its heartbeat key has expired (``heartbeat_ttl_ms``) at the
    next claim round (``claim_every_ms``); a worker whose engine hangs stops refreshing its
    heartbeat after ``stuck_after_s``; anything else pending longer than ``claim_idle_ms`` is
    taken over too. Each of these bounds must leave the new worker at least half of the
    requester's wait, or redelivery would only produce answers nobody waits for any more —
    the validator below refuses settings that break it.
    """

    worker_name: str | None = Field(
        default=None, description="default: the host name, made unique among live workers"
    )
    max_batch: int = Field(default=32, ge=1)
    max_wait_ms: int = Field(default=20, ge=0, description="to fill a batch after its first job")
    background_batch: int = Field(
        default=4,
        ge=1,
        description="background jobs per engine call: a user's request that arrives meanwhile "
        "waits for a batch this small at most",
    )
    block_ms: int = Field(
        default=500,
        ge=1,
        le=2000,
        description="idle poll; bounds shutdown latency; well under the socket timeout (5 s)",
    )
    heartbeat_ttl_ms: int = Field(
        default=6_000, ge=100, description="a worker whose heartbeat key is gone is dead"
    )
    stuck_after_s: float = Field(
        default=20.0, gt=0, description="a batch running longer counts as a hung engine"
    )
    claim_idle_ms: int = Field(
        default=25_000,
        ge=1,
        description="a job pending this long is taken from its worker, alive or not",
    )
    claim_every_ms: int = Field(default=1_000, ge=1)
    max_deliveries: int = Field(
        default=3, ge=1, description="then the job is dead-lettered (it kills its workers)"
    )
    metrics_port: int | None = None
    metrics_host: str = Field(
        default="127.0.0.1", description="loopback: /metrics is not for the whole network"
    )
    model_dir: Path | None = None
    device: Literal["auto", "cuda", "cpu"] = "auto"
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads; 1 wins when the cores are shared"
    )
    discriminator_alpha: float = Field(
        default=0.0, ge=0, description="rerank by MODEL_DIR/discriminator too; 0 = log-prob only"
    )
    critic_alpha: float | None = Field(
        default=None,
        ge=0,
        description="weight of the shipped critic (MODEL_DIR/critic.safetensors) in the "
        "ranking; unset: the one its critic.json recommends; 0 = off",
    )

    def takeover_bounds_s(self) -> dict[str, float]:
        """The longest a job can wait at a failed worker before another one takes it, by cause."""
        every = self.claim_every_ms / 1000
        return {
            "a dead worker": self.heartbeat_ttl_ms / 1000 + every,
            "a hung engine": self.stuck_after_s + self.heartbeat_ttl_ms / 1000 + every,
            "a job left idle": self.claim_idle_ms / 1000 + every,
        }

    @model_validator(mode="after")
    def _recovery_fits_the_wait(self) -> "WorkerSettings":
        budget = self.timeout_s / 2
        for cause, bound in self.takeover_bounds_s().items():
            if bound > budget:
                raise ValueError(
                    f"recovery from {cause} takes up to {bound:g} s, more than half the "
                    f"requester's wait (timeout_s {self.timeout_s:g} s): lower the "
                    "heartbeat/claim settings or raise YINSHI_TIMEOUT_S"
                )
        # The loop beats when a third of the TTL has passed; an idle turn of the loop lasts up
        # to block_ms + max_wait_ms. Two such turns must fit in the TTL, so two beats in a row
        # can be late before a live, idle worker looks dead.
        loop_ms = self.block_ms + self.max_wait_ms
        if self.heartbeat_ttl_ms < 2 * loop_ms:
            raise ValueError(
                f"heartbeat_ttl_ms {self.heartbeat_ttl_ms} must be at least 2 idle loops "
                f"(2 × (block_ms + max_wait_ms) = {2 * loop_ms}), or a live idle worker looks dead"
            )
        return self


class BotSettings(ClientSettings):
    """The Telegram bot: its token and Bot API server, limits, daily-poem defaults, webhook."""

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    bot_base_url: str = "https://api.telegram.org/bot"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Asia/Shanghai"
    rate_per_minute: int = Field(default=6, ge=1)
    inline_timeout_s: float = Field(default=2.5, gt=0, description="inline answers must be quick")
    inline_per_minute: int = Field(
        default=20, ge=1, description="inline topics generated per user and minute (own budget)"
    )
    inline_debounce_s: float = Field(
        default=0.6, ge=0, description="a query is generated only if no newer one came by then"
    )
    daily_lead_s: int = Field(default=180, ge=0, description="request the daily poem this early")
    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = Field(default=None, description="public https URL Telegram posts to")
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    health_port: int = Field(default=8081, description="/healthz in webhook mode")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value
