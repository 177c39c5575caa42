"""The discriminator: how likely a poem is to be real verse rather than the poet's own.

A ``GPT2ForSequenceClassification`` fine-tuned from the poet (``yinshi train discriminator``),
saved in ``<model dir>/discriminator/``. Reranking by its log-realness as well as by the
poet's own log-probability prefers candidates that read less like a language model — the
poet alone favours safe, repetitive wording. Torch is imported only when a model is loaded.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.prompt import BOS, EOS, form_token
from yinshi.errors import UserError
from yinshi.prosody.forms import FORMS

DIR_NAME = "discriminator"
"""Beside the poet's weights: where `load_generator` looks for it."""
INFO_FILE = "discriminator.json"
REAL = 1
"""The label of real poems; 0 is the poet's."""
BATCH = 64
MIN_REALNESS = 1e-6
"""Floor before the log: one overconfident "fake" must not outweigh everything else."""


def classifier_text(lines: Sequence[str], form: str) -> str:
    """What the classifier reads: the form and the body, framed like the poet's training text.

    No title, so a poem is judged on its wording alone; ``<eos>`` last, because the class is
    read from the last token. A 词牌 name (what the engine's layouts carry) reads as ``<词>``.
    """
    return BOS + form_token(form if form in FORMS else "词") + "".join(lines) + EOS


@dataclass
class Discriminator:
    model: Any
    tokenizer: Any
    path: Path

    def realness(self, poems_lines: Sequence[Sequence[str]], forms: Sequence[str]) -> list[float]:
        """P(real) for each poem (its lines with their marks), in batches."""
        import torch

        texts = [
            classifier_text(lines, form) for lines, form in zip(poems_lines, forms, strict=True)
        ]
        device = self.model.device
        found: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[start : start + BATCH],
                    add_special_tokens=False,
                    padding=True,
                    return_tensors="pt",
                ).to(device)
                logits = self.model(**batch).logits.float()
                found.extend(logits.softmax(-1)[:, REAL].tolist())
        return found


def load_discriminator(path: str | Path, device: str | None = None) -> Discriminator:
    """The classifier in eval mode; a missing or broken dir is a one-line `UserError`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise UserError(f"找不到判别器 {directory}（缺 config.json） / no discriminator there")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(directory), dtype=torch.float32
        )
    except (OSError, ValueError) as error:
        raise UserError(f"无法加载判别器 {directory} / cannot load it: {error}") from error
    model.to(device).eval()
    return Discriminator(model, tokenizer, directory)


class MixedScore:
    """The engine's score: `steered_logprob` + ``alpha`` × log P(real).

    Callable on one candidate like any score, and with `batch` for a whole chunk, which the
    engine prefers: one classifier pass per chunk instead of one per candidate.
    """

    def __init__(self, discriminator: Discriminator, alpha: float):
        if alpha < 0:
            raise UserError("alpha 须非负 / must not be negative")
        self.discriminator = discriminator
        self.alpha = alpha

    def __call__(self, candidate) -> float:
        return self.batch([candidate])[0]

    def batch(self, candidates: Sequence) -> list[float]:
        from model.generation.ranking import steered_logprob

        real = self.discriminator.realness(
            [c.lines for c in candidates], [c.layout.form for c in candidates]
        )
        return [
            steered_logprob(c) + self.alpha * math.log(max(p, MIN_REALNESS))
            for c, p in zip(candidates, real, strict=True)
        ]


def mixed_score(discriminator: Discriminator, alpha: float) -> MixedScore:
    return MixedScore(discriminator, alpha)
