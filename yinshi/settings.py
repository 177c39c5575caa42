"""Settings of the processes that talk to the queue, read from the environment.

Defaults work on a laptop: with no ``REDIS_URL`` an embedded Redis is started under the data
dir. Values come from the environment, then from ``.env`` in the working directory (see
``.env.example``). Environment names are the field names upper-cased with the ``YINSHI_``
prefix, except ``REDIS_URL`` (the name every Redis tool knows):

All processes:
    ``REDIS_URL``: ``redis://host:6379/0`` or ``unix:///path.sock``; unset = embedded Redis.
    ``YINSHI_DATA_DIR``: where the embedded Redis keeps its files (``data``).
Clients (the bot, ``yinshi ask``):
    ``YINSHI_TIMEOUT_S``: how long a requester waits for its poem.
    ``YINSHI_MAX_QUEUE``: backlog above which requests are refused at once (Busy).
Worker:
    ``YINSHI_WORKER_NAME``: consumer name; a stable one resumes its own jobs after a restart.
    ``YINSHI_MAX_BATCH``, ``YINSHI_MAX_WAIT_MS``: dynamic batching.
    ``YINSHI_CLAIM_IDLE_MS``, ``YINSHI_CLAIM_EVERY_MS``, ``YINSHI_MAX_DELIVERIES``: recovery.
    ``YINSHI_METRICS_PORT``: Prometheus ``/metrics`` and ``/healthz``; unset = off.
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

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class QueueSettings(BaseSettings):
    """What every process on the queue needs to find it."""

    model_config = SettingsConfigDict(
        env_prefix="YINSHI_", env_file=".env", extra="ignore", populate_by_name=True
    )

    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    data_dir: Path = Path("data")


class ClientSettings(QueueSettings):
    """A process that asks for poems: the bot, `yinshi ask`."""

    timeout_s: float = Field(default=60.0, gt=0)
    max_queue: int = Field(default=1000, ge=1)


class WorkerSettings(QueueSettings):
    """A generation worker."""

    worker_name: str | None = Field(default=None, description="default: host-pid")
    max_batch: int = Field(default=32, ge=1)
    max_wait_ms: int = Field(default=20, ge=0, description="to fill a batch after its first job")
    block_ms: int = Field(default=500, ge=1, description="idle poll; bounds shutdown latency")
    claim_idle_ms: int = Field(
        default=60_000, ge=1, description="a job pending this long is taken from its worker"
    )
    claim_every_ms: int = Field(default=5_000, ge=1)
    max_deliveries: int = Field(default=3, ge=1, description="then the job is dead-lettered")
    metrics_port: int | None = None
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
