"""Train the discriminator: real poems of the training split against the poet's own.

The fakes are written by the constrained engine for the same forms and titles as the real
poems, so both sides keep 格律 and the classifier can only learn wording. It starts from the
poet's weights (same tokenizer, a fresh two-way head) and is judged by held-out AUC: test
split poems against fresh samples written with other seeds.
"""

import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    DataCollatorWithPadding,
    GPT2ForSequenceClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

from model.checkpoint import save_dtype
from model.discriminator import DIR_NAME, INFO_FILE, REAL, classifier_text, load_discriminator
from model.generation import FormError, GenerationError, load_generator
from model.generation.engine import model_version
from model.prompt import clean_title
from training.lm import artifacts
from training.lm.data import read_records
from yinshi.errors import UserError
from yinshi.prosody.forms import REGULAR_FORMS
from yinshi.protocol import PoemRequest

GENERATE_BATCH = 32
"""Requests per engine call: bounds the KV cache on a small machine."""
EVAL_SEED_OFFSET = 1_000_003
"""Held-out fakes use other seeds than the training fakes."""


@dataclass(frozen=True)
class Options:
    generator: Path
    corpus: Path
    out: Path | None = None
    """Default: ``<generator>/discriminator``, where the worker looks."""
    n_per_form: int = 200
    max_steps: int | None = None
    """Default: one epoch."""
    seed: int = 0
    batch_size: int = 16
    learning_rate: float = 5e-5


def pick_real(records: list[dict], n_per_form: int, rng: random.Random) -> list[dict]:
    """Up to ``n_per_form`` poems of each regular form, drawn at random."""
    picked = []
    for form in REGULAR_FORMS:
        of_form = [r for r in records if r["form"] == form]
        picked.extend(rng.sample(of_form, min(n_per_form, len(of_form))))
    return picked


def write_fakes(generator, real: Sequence[dict], seed: int) -> list[tuple[dict, list[str]]]:
    """One constrained poem per real one, same form and title: (real record, fake lines).

    A request the engine cannot meet drops its real poem too, so the two sides stay balanced.
    """
    requests = [
        PoemRequest(
            topic=clean_title(r.get("title") or "") or r["form"], form=r["form"], seed=seed + i
        )
        for i, r in enumerate(real)
    ]
    pairs = []
    for start in range(0, len(requests), GENERATE_BATCH):
        answers = generator.generate(requests[start : start + GENERATE_BATCH])
        for record, answer in zip(real[start : start + GENERATE_BATCH], answers, strict=True):
            if isinstance(answer, FormError | GenerationError):
                continue
            pairs.append((record, answer.poems[0].lines))
    return pairs


def train_and_test_pairs(
    generator, corpus: Path, n_per_form: int, seed: int, rng: random.Random
) -> tuple[list, list]:
    """`write_fakes` for up to ``n_per_form`` train poems of each regular form (seed ``seed``)
    and as many test poems (other seeds): what a real-vs-generated classifier learns from and
    is judged on."""
    train = pick_real(read_records(corpus, "train"), n_per_form, rng)
    test = pick_real(read_records(corpus, "test"), n_per_form, rng)
    return write_fakes(generator, train, seed), write_fakes(
        generator, test, seed + EVAL_SEED_OFFSET
    )


def labelled(pairs: Sequence[tuple[dict, list[str]]]) -> list[tuple[str, int]]:
    """(classifier text, label) for both sides of every pair."""
    rows = []
    for record, fake in pairs:
        rows.append((classifier_text([record["text"]], record["form"]), REAL))
        rows.append((classifier_text(fake, record["form"]), 1 - REAL))
    return rows


def auc(real: Sequence[float], fake: Sequence[float]) -> float:
    """P(a real poem scores above a fake one), ties counting half (the Mann–Whitney U)."""
    if not real or not fake:
        raise UserError("评估样本为空，无法计算 AUC / no held-out poems to compute AUC on")
    wins = sum((r > f) + 0.5 * (r == f) for r in real for f in fake)
    return wins / (len(real) * len(fake))


def train_discriminator(options: Options) -> dict:
    """Train, save in HF layout with ``discriminator.json``, return that record."""
    if options.n_per_form < 1:
        raise UserError("--n-per-form 须为正整数 / must be a positive integer")
    if options.max_steps is not None and options.max_steps < 1:
        raise UserError("--max-steps 须为正整数 / must be a positive integer")
    out = options.out or options.generator / DIR_NAME
    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = load_generator(options.generator, device=device)
    rng = random.Random(options.seed)
    train_pairs, test_pairs = train_and_test_pairs(
        generator, options.corpus, options.n_per_form, options.seed, rng
    )
    if not train_pairs or not test_pairs:
        raise UserError(
            "语料中没有可用的五绝、七绝、五律、七律 / no regular verse to train or test on"
        )

    tokenizer = generator.tokenizer
    del generator  # the poet's own copy of the weights is no longer needed
    staging, result = fit_classifier(options.generator, tokenizer, train_pairs, out, options, rng)
    judge = load_discriminator(staging, device=device)
    real_scores = judge.realness(
        [[r["text"]] for r, _ in test_pairs], [r["form"] for r, _ in test_pairs]
    )
    fake_scores = judge.realness([f for _, f in test_pairs], [r["form"] for r, _ in test_pairs])
    info = {
        "generator": str(options.generator),
        "generator_version": model_version(Path(options.generator)),
        "forms": list(REGULAR_FORMS),
        "train_real": len(train_pairs),
        "train_fake": len(train_pairs),
        "test_real": len(test_pairs),
        "test_fake": len(test_pairs),
        "test_auc": round(auc(real_scores, fake_scores), 4),
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 4),
        "seed": options.seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    artifacts.write_json(staging / INFO_FILE, info)
    artifacts.publish(staging, out)
    return info


def fit_classifier(
    init: Path,
    tokenizer,
    pairs: Sequence[tuple[dict, list[str]]],
    out: Path,
    options: Options,
    rng: random.Random,
):
    """Fine-tune a real-vs-generated classifier from ``init`` on both sides of ``pairs``.

    Saved in HF layout to ``out/.final`` (published by the caller once its record is written);
    returns that dir and the trainer's result. Only ``options``' training settings are used.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    set_seed(options.seed)  # the fresh head's init, whatever ran before in the process
    model = GPT2ForSequenceClassification.from_pretrained(
        str(init),
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
        dtype=torch.float32,
    )
    rows = labelled(pairs)
    rng.shuffle(rows)
    dataset = [
        {**tokenizer(text, add_special_tokens=False), "labels": label} for text, label in rows
    ]
    args = TrainingArguments(
        output_dir=str(out / ".trainer"),
        per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        max_steps=options.max_steps or -1,
        num_train_epochs=1,
        warmup_steps=0,
        save_strategy="no",
        logging_steps=10,
        report_to=[],
        seed=options.seed,
        disable_tqdm=True,
        dataloader_pin_memory=device == "cuda",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    result = trainer.train()
    shutil.rmtree(out / ".trainer", ignore_errors=True)

    staging = out / ".final"
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that crashed while saving
    staging.mkdir(parents=True)
    model.to(getattr(torch, save_dtype(init))).save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    return staging, result
