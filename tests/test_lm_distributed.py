"""Pretraining under torchrun: two processes on the CPU (gloo) with the tiny preset.

What a user with several GPUs relies on: each process trains on its own share of the data
(an epoch takes half the steps it takes one process), the loss falls, one checkpoint is
written, logs are printed once, and a time budget stops every process at the same step.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bot_e2e import free_port
from test_lm_train import SMALL_VOCAB, TINY

pytestmark = pytest.mark.slow


def train(corpus: Path, out: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    argv = ["train", "pretrain", *TINY, *SMALL_VOCAB, "--corpus", str(corpus), "--out", str(out)]
    argv += ["--no-test-eval", *extra]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    command = [*torchrun, "--master_port", str(free_port()), "-m", "yinshi.cli", *argv]
    if processes == 1:
        command = [sys.executable, "-m", "yinshi.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


def history(out: Path) -> list[dict]:
    return json.loads((out / "metrics.json").read_text())["log_history"]


def epoch_at(out: Path, step: int) -> float:
    return next(e["epoch"] for e in history(out) if e.get("step") == step and "loss" in e)


def test_two_processes_share_the_data_and_write_one_checkpoint(prepared_corpus, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    done = train(prepared_corpus, two, 2, "--max-steps", "6")
    assert done.returncode == 0, done.stderr[-3000:]
    assert train(prepared_corpus, one, 1, "--max-steps", "6").returncode == 0
    # Each process reads its own half: at the same step, twice the epoch of one process.
    assert epoch_at(two, 6) == pytest.approx(2 * epoch_at(one, 6), rel=0.1)
    losses = [e["loss"] for e in history(two) if "loss" in e]
    assert losses[-1] < losses[0]
    assert (two / "model.safetensors").is_file() and (two / "yinshi.json").is_file()
    lines = [line for line in done.stdout.splitlines() if line.startswith("step=6 loss=")]
    assert len(lines) == 1  # the main process alone prints


def test_a_time_budget_stops_every_process(prepared_corpus, tmp_path):
    """Stopping by each process's own clock could leave one waiting for the other for ever."""
    out = tmp_path / "budget"
    done = train(prepared_corpus, out, 2, "--max-minutes", "0.05", "--eval-steps", "5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    shutil.rmtree(out)
