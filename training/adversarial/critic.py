"""Train the critic: a logistic head on the poet's own hidden states, real poems against its own.

The same data as the discriminator (`train_and_test_pairs`: both sides keep 格律, same
forms and titles, so only the wording differs), but instead of fine-tuning a second GPT-2, the
poet reads every poem once (`model.critic.features`) and a logistic regression is fitted on
those features with L-BFGS: seconds on a CPU. It learns from each poem's first lines as well
as the whole (one line, two, …): the engine asks it about poems half-written when it regroups
a poem's candidates (`model.generation.decode.Regroup`), and a head that had only seen whole
poems judged those worse (model card). Its L2 weight is chosen on a held-out fifth of the
training pairs; the head is judged by AUC on test-split poems against fresh fakes written
with other seeds (whole, and cut after each line), and written beside the poet only once that
record exists.
"""

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save
from transformers import AutoConfig

from model.critic import BATCH, DEFAULT_ALPHA, FILE_NAME, INFO_FILE, LAYER, TENSORS, Head, features
from model.generation import load_generator
from model.generation.engine import model_version
from model.prompt import clean_title, prompt_text
from training.adversarial.discriminator import auc, train_and_test_pairs
from training.lm import artifacts
from yinshi.errors import UserError
from yinshi.prosody.forms import REGULAR_FORMS
from yinshi.prosody.text import LINE_END

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
"""Candidate L2 weights (per training example) on the standardised features."""
VALIDATION_SHARE = 0.2


@dataclass(frozen=True)
class Options:
    generator: Path
    corpus: Path
    n_per_form: int = 400
    alpha: float = DEFAULT_ALPHA
    """Recorded in ``critic.json``: the weight the engine gives log P(real) by default."""
    layer: int = LAYER
    seed: int = 0


def labelled(generator, pairs: Sequence[tuple[dict, list[str]]], layer: int, prefixes=False):
    """(features [2 × pairs, width], labels [2 × pairs], forms): each real poem, then its fake.

    Both are read after the prompt the engine wrote the fake under (the title as the request's
    topic, the form's name where there is none), so the two differ in wording alone.
    ``prefixes``: each poem's first lines too (one, two, … all but the last), as the engine
    reads them when it regroups a poem's candidates part-way.
    """
    prompts, bodies, labels, forms = [], [], [], []
    for record, fake in pairs:
        topic = clean_title(record.get("title") or "") or record["form"]
        for body, label in ((record["text"], 1.0), ("".join(fake), 0.0)):
            parts = _line_prefixes(body) if prefixes else [body]
            for part in parts:
                prompts.append(prompt_text(record["form"], topic))
                bodies.append(part)
                labels.append(label)
                forms.append(record["form"])
    model, tokenizer = generator.model, generator.tokenizer
    chunks = [slice(i, i + BATCH) for i in range(0, len(prompts), BATCH)]
    x = torch.cat([features(model, tokenizer, prompts[c], bodies[c], layer) for c in chunks])
    return x, torch.tensor(labels), forms


def _line_prefixes(body: str) -> list[str]:
    """The body cut after each line's mark: its first line, its first two, …, all of it."""
    ends = [i + 1 for i, char in enumerate(body) if char in LINE_END]
    return [body[:end] for end in ends if end < len(body)] + [body]


def fit_head(x: torch.Tensor, y: torch.Tensor, l2: float, layer: int = LAYER) -> Head:
    """Logistic regression by L-BFGS on features standardised by their own mean and spread."""
    mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / scale
    weight = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe"
    )

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.binary_cross_entropy_with_logits(z @ weight + bias, y)
        value = value + l2 * weight.square().sum()
        value.backward()
        return value

    optimizer.step(loss)
    return Head(mean, scale, weight.detach(), bias.detach(), layer, frozenset(REGULAR_FORMS))


def head_auc(head: Head, x: torch.Tensor, y: torch.Tensor) -> float:
    """P(a real poem's logit is above a fake's)."""
    logits, real = head.logits(x), y.bool()
    return auc(logits[real].tolist(), logits[~real].tolist())


def save_head(head: Head, path: Path) -> None:
    """Atomically, fp32 (a few KB: nothing is gained by halving it); the layer it reads and the
    forms it knows in the header, so the digest that names it covers them too."""
    tensors = {name: getattr(head, name).float().contiguous() for name in TENSORS}
    header = {"layer": str(head.layer), "forms": ",".join(sorted(head.forms))}
    artifacts.write_atomic(path, save(tensors, metadata=header))


def train_critic(options: Options) -> dict:
    """Write the fakes, fit, evaluate, save ``critic.json`` then ``critic.safetensors``."""
    if options.n_per_form < 1:
        raise UserError("--n-per-form 须为正整数 / must be a positive integer")
    if not 0 <= options.alpha < math.inf:
        raise UserError("--alpha 须为非负有限数 / must be finite and not negative")
    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    layers = AutoConfig.from_pretrained(str(options.generator)).n_layer
    if not 1 <= options.layer <= layers:
        raise UserError(f"--layer 须在 1 到 {layers} 之间 / out of range")
    generator = load_generator(options.generator, device=device, critic_alpha=0.0)
    rng = random.Random(options.seed)
    train_pairs, test_pairs = train_and_test_pairs(
        generator, options.corpus, options.n_per_form, options.seed, rng
    )
    if len(train_pairs) < 5 or not test_pairs:
        raise UserError(
            "语料中没有足够的五绝、七绝、五律、七律 / too little regular verse to train or test on"
        )
    written = time.perf_counter()

    rng.shuffle(train_pairs)
    held = max(1, int(len(train_pairs) * VALIDATION_SHARE))
    x_fit, y_fit, _ = labelled(generator, train_pairs[held:], options.layer, prefixes=True)
    x_val, y_val, _ = labelled(generator, train_pairs[:held], options.layer, prefixes=True)
    val_auc = {
        l2: head_auc(fit_head(x_fit, y_fit, l2, options.layer), x_val, y_val) for l2 in L2_GRID
    }
    l2 = max(L2_GRID, key=lambda k: (val_auc[k], k))  # ties: the smoother head
    x, y = torch.cat([x_val, x_fit]), torch.cat([y_val, y_fit])
    head = fit_head(x, y, l2, options.layer)
    x_test, y_test, test_forms = labelled(generator, test_pairs, options.layer)
    x_parts, y_parts, _ = labelled(generator, test_pairs, options.layer, prefixes=True)
    per_form = {}
    for form in REGULAR_FORMS:
        rows = [i for i, f in enumerate(test_forms) if f == form]
        if rows:
            per_form[form] = round(head_auc(head, x_test[rows], y_test[rows]), 4)
    info = {
        "generator": str(options.generator),
        "generator_version": model_version(Path(options.generator)),
        "forms": list(REGULAR_FORMS),
        "features": f"output of block {options.layer} of the poet, mean-pooled over the body",
        "trained_on": "whole poems and their first lines (cut after each line)",
        "width": x.shape[1],
        "alpha": options.alpha,
        "l2": l2,
        "val_auc": {f"{k:g}": round(v, 4) for k, v in val_auc.items()},
        "train_real": len(train_pairs),
        "train_fake": len(train_pairs),
        "test_real": len(test_pairs),
        "test_fake": len(test_pairs),
        "test_auc": round(head_auc(head, x_test, y_test), 4),
        "test_auc_prefixes": round(head_auc(head, x_parts, y_parts), 4),
        "test_auc_per_form": per_form,
        "seed": options.seed,
        "seconds_writing_fakes": round(written - started, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    directory = Path(options.generator)
    artifacts.write_json(directory / INFO_FILE, info)
    save_head(head, directory / FILE_NAME)
    return info
