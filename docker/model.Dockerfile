# Generation worker (target `worker`) and trainer (target `trainer`). torch is pinned to the
# version this project is tested with and comes from the PyTorch index for the chosen build:
#   docker build -f docker/model.Dockerfile --build-arg TORCH_VARIANT=cu128 --target worker .
#   TORCH_VARIANT: cpu (default) or a CUDA build such as cu128.
FROM python:3.11.11-slim-bookworm AS build
ARG TORCH_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install torch==2.13.0 \
        --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY yinshi yinshi
COPY bot bot
COPY model model
COPY training training
# The shipped weights are not package data: the worker finds them through YINSHI_MODEL_DIR.
RUN /opt/venv/bin/pip install ".[train]"

FROM python:3.11.11-slim-bookworm AS worker
COPY --from=build /opt/venv /opt/venv
COPY model/weights/small /opt/yinshi/weights/small
RUN useradd --create-home --uid 10001 yinshi
USER 10001
WORKDIR /home/yinshi
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 YINSHI_MODEL_DIR=/opt/yinshi/weights/small
CMD ["yinshi", "worker"]

# `make model` in a container: the source tree for the Makefile, npm to fetch the corpus.
FROM python:3.11.11-slim-bookworm AS trainer
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make npm \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 10001 yinshi
WORKDIR /app
COPY --chown=10001 Makefile pyproject.toml README.md ./
COPY --chown=10001 yinshi yinshi
COPY --chown=10001 bot bot
COPY --chown=10001 model model
COPY --chown=10001 training training
# The venv is complete: mark it installed so `make` does not build another one.
RUN touch /opt/venv/.installed && chown -R 10001 /app
USER 10001
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
CMD ["make", "VENV=/opt/venv", "model"]
