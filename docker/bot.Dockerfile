# The Telegram bot: no torch (a bot-only install is `pip install .[bot]`). Build a venv in one
# stage, copy only the venv into the runtime stage; runs as an unprivileged user.
# Build from the repo root: docker build -f docker/bot.Dockerfile .
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY yinshi yinshi
COPY bot bot
COPY model model
COPY training training
RUN python -m venv /opt/venv && /opt/venv/bin/pip install ".[bot]"

FROM python:3.11.11-slim-bookworm
# The picture card's fonts (bot/card): a 楷书 for the text, Noto CJK for what it lacks.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fontconfig fonts-lxgw-wenkai fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 10001 yinshi
USER 10001
WORKDIR /home/yinshi
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
CMD ["yinshi", "bot"]
