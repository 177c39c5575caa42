"""Where the poet's checkpoint lives and how to load it.

A checkpoint is a standard HF directory (``config.json``, ``model.safetensors``, tokenizer
files, ``generation_config.json``) plus our ``yinshi.json``: what it was trained on and how
good it is, and which 词牌 have their own token (the prompt may only use those). Resolving
and reading stay torch-free; only `load_checkpoint` imports torch.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yinshi.errors import UserError

DEFAULT_DIR = Path(__file__).resolve().parent / "weights" / "small"
ENV_VAR = "YINSHI_MODEL_DIR"
INFO_FILE = "yinshi.json"


def resolve(path: str | Path | None = None) -> Path:
    """The checkpoint dir: the given path, else ``$YINSHI_MODEL_DIR``, else the shipped one."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_DIR)
    if not (chosen / "config.json").is_file():
        raise UserError(f"找不到模型 {chosen}（缺 config.json） / no checkpoint there")
    return chosen


def read_info(path: str | Path) -> dict:
    """``yinshi.json`` of a checkpoint; empty for a checkpoint that is not ours."""
    info = Path(path) / INFO_FILE
    if not info.is_file():
        return {}
    try:
        return json.loads(info.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"{info} 不是合法 JSON / invalid JSON: {error}") from error


def save_dtype(path: str | Path) -> str:
    """The dtype a checkpoint's preset stores weights in (fp16 for `small`): what is trained
    from it and saved beside it (a tuned poet, its discriminator) keeps that size on disk."""
    return read_info(path).get("preset", {}).get("save_dtype", "float32")


@dataclass
class Checkpoint:
    path: Path
    model: Any
    tokenizer: Any
    info: dict

    @property
    def tunes(self) -> set[str]:
        """词牌 with their own token: pass `tune` to `prompt_text` only for these."""
        return set(self.info.get("tunes", []))


def load_checkpoint(path: str | Path | None = None, device: str | None = None) -> Checkpoint:
    """Model (eval mode, SDPA attention) and tokenizer; float32 on CPU, where fp16 is slow."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = resolve(path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        model = AutoModelForCausalLM.from_pretrained(
            str(directory), dtype=dtype, attn_implementation="sdpa"
        )
    except (OSError, ValueError) as error:
        raise UserError(f"无法加载模型 {directory} / cannot load checkpoint: {error}") from error
    model.to(device).eval()
    return Checkpoint(directory, model, tokenizer, read_info(directory))
