"""``yinshi eval --compare``: the base, reranked and adversarially tuned poets side by side.

Every variant writes the same ``samples`` constrained poems: the four regular forms in turn,
titles of the test split, the same seed per request. Each variant's poems are measured by
the same yardsticks: a fresh 格律 analysis, perplexity under the base model, the realness a
fresh judge gives them, and the diversity measures that show mode collapse (distinct-n,
self-BLEU, unique first lines) and copying.

The judge is a discriminator trained for this comparison only, on real poems of the
validation split (the generator and its own critic learnt from train) against samples of
every variant in equal shares, written with other seeds than the measured ones. A tuned
generator may have learnt to fool its own critic; it has never seen this one. The judge's
held-out AUC is real test poems against the measured samples; it lives in a temporary dir.

Torch is imported only when a comparison runs, so bad arguments fail fast.
"""

import json
import math
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from model.discriminator import DIR_NAME, INFO_FILE
from model.prompt import clean_title
from model.prosody.forms import REGULAR_FORMS
from training.lm import metrics
from training.lm.data import read_records
from yinshi.errors import UserError
from yinshi.protocol import PoemRequest

JUDGE_SEED_OFFSET = 2_000_003
"""The judge's training fakes use other seeds than the measured samples."""
SELF_BLEU_SAMPLE = 200
"""Self-BLEU is quadratic in the poems: at most this many, a fixed random subsample."""
EXAMPLES = 3


@dataclass(frozen=True)
class CompareOptions:
    base: Path
    corpus: Path
    adversarial: tuple[Path, ...] = ()
    """Tuned checkpoints, each a variant (named ``adversarial``, or by dir when several)."""
    alpha: float = 1.0
    """Reranking weight of the base's discriminator for the ``reranked`` variant."""
    samples: int = 500
    judge_per_form: int = 200
    """Real validation poems per form the judge learns from (as many fakes)."""
    seed: int = 0


def check(options: CompareOptions) -> None:
    """Bad arguments as a one-line `UserError`, before anything is loaded."""
    if options.samples < 1:
        raise UserError("--samples 须为正整数 / must be a positive integer")
    if options.judge_per_form < 1:
        raise UserError("--judge-per-form 须为正整数 / must be a positive integer")
    if not options.alpha > 0:
        raise UserError("--alpha 须为正数 / must be positive")
    paths = [("--model", options.base), *(("--adversarial", p) for p in options.adversarial)]
    for flag, path in paths:
        if not (Path(path) / "config.json").is_file():
            raise UserError(f"{flag} {path}: 找不到模型（缺 config.json） / no checkpoint there")


def variants(options: CompareOptions) -> list[tuple[str, Path, float]]:
    """(name, checkpoint dir, reranking alpha) of every variant there is to compare."""
    found = [("base", Path(options.base), 0.0)]
    if (Path(options.base) / DIR_NAME / "config.json").is_file():
        found.append(("reranked", Path(options.base), options.alpha))
    for path in map(Path, options.adversarial):
        name = "adversarial" if len(options.adversarial) == 1 else f"adversarial-{path.name}"
        found.append((name, path, 0.0))
    return found


def plan_requests(test: list[dict], n: int, seed: int) -> list[PoemRequest]:
    """``n`` requests, the regular forms in turn, each form's test titles shuffled and cycled."""
    rng = random.Random(seed)
    titles = {}
    for form in REGULAR_FORMS:
        of_form = [clean_title(r.get("title") or "") or form for r in test if r["form"] == form]
        rng.shuffle(of_form)
        titles[form] = of_form or [form]  # no test poem of the form: its name is the title
    requests = []
    for i in range(n):
        form = REGULAR_FORMS[i % len(REGULAR_FORMS)]
        title = titles[form][(i // len(REGULAR_FORMS)) % len(titles[form])]
        requests.append(PoemRequest(topic=title, form=form, seed=seed + i))
    return requests


def write_poems(generator, requests: list[PoemRequest]) -> list:
    """The first poem answering each request, or None where the engine could not write one."""
    from model.generation import FormError, GenerationError
    from training.adversarial.discriminator import GENERATE_BATCH

    poems = []
    for start in range(0, len(requests), GENERATE_BATCH):
        for answer in generator.generate(requests[start : start + GENERATE_BATCH]):
            failed = isinstance(answer, FormError | GenerationError)
            poems.append(None if failed else answer.poems[0])
    return poems


def compare(options: CompareOptions) -> dict:
    """The ``variants`` section of the report: settings, judge, critics, one entry per variant."""
    import torch

    from training.adversarial.discriminator import auc, pick_real

    check(options)
    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = random.Random(options.seed)
    test = read_records(options.corpus, "test")
    requests = plan_requests(test, options.samples, options.seed)
    judge_real = pick_real(read_records(options.corpus, "val"), options.judge_per_form, rng)
    poems, scored, judge_pairs, tokenizer = write_all(options, requests, judge_real, device)
    if not judge_pairs:
        raise UserError("验证集中没有可用的近体诗 / no regular verse in val to train the judge")
    test_real = pick_real(test, options.judge_per_form, rng)
    judge, real_scores, realness = train_judge(
        options, tokenizer, judge_pairs, test_real, scored, rng, device
    )
    all_fake = [p for scores in realness.values() for p in scores]
    judge["test_fake"] = len(all_fake)
    judge["test_auc"] = round(auc(real_scores, all_fake), 4) if real_scores and all_fake else None
    section = {
        "settings": {
            "base": str(options.base),
            "adversarial": [str(path) for path in options.adversarial],
            "alpha": options.alpha,
            "samples": options.samples,
            "judge_per_form": options.judge_per_form,
            "seed": options.seed,
            "self_bleu_sample": SELF_BLEU_SAMPLE,
        },
        "judge": judge,
        "critics": {},
        "generators": {},
    }
    for name, path, _ in variants(options):
        record = critic_record(path) if name != "reranked" else None
        if record is not None:
            section["critics"][name] = record
    known = metrics.corpus_lines(r["text"] for r in read_records(options.corpus, "train"))
    for name, (records, nll) in scored.items():
        row = variant_metrics(records, nll, realness[name], known, options.seed)
        row["judge_auc"] = (
            round(auc(real_scores, realness[name]), 4) if real_scores and realness[name] else None
        )
        row["requested"] = len(requests)
        row["samples"] = [
            {"title": r.topic, "form": r.form, "seed": r.seed, "text": poem_text(p)}
            for r, p in zip(requests, poems[name], strict=True)
        ]
        section["generators"][name] = row
    section["seconds"] = round(time.perf_counter() - started, 1)
    return section


def write_all(options: CompareOptions, requests: list[PoemRequest], judge_real, device: str):
    """Every variant's poems, the judge's training pairs, the base's NLL of each variant's poems.

    Returns (poems per variant, (records, NLL per record) per variant, judge pairs, the base
    tokenizer). A variant's records are its written poems as {form, title, text}.
    """
    from model.generation import load_generator
    from training.adversarial.discriminator import write_fakes
    from training.lm.perplexity import body_nll

    chosen = variants(options)
    poems: dict[str, list] = {}
    judge_pairs: list = []
    base = None
    for k, (name, path, alpha) in enumerate(chosen):
        generator = load_generator(path, device=device, discriminator_alpha=alpha)
        poems[name] = write_poems(generator, requests)
        # every len(chosen)-th val poem gets its fake from this variant: an even mix of all
        seed = options.seed + JUDGE_SEED_OFFSET + k * len(judge_real)
        judge_pairs += write_fakes(generator, judge_real[k :: len(chosen)], seed)
        if name == "base":
            base = generator
        del generator
    assert base is not None
    scored = {}
    for name, found in poems.items():
        records = [
            {"form": p.form, "title": r.topic, "text": poem_text(p)}
            for r, p in zip(requests, found, strict=True)
            if p is not None
        ]
        nll = body_nll(base.model, base.tokenizer, records, set()) if records else []
        scored[name] = (records, nll)
    return poems, scored, judge_pairs, base.tokenizer


def train_judge(options, tokenizer, pairs, test_real, scored, rng, device):
    """Fit the fresh judge in a temporary dir: its record, the real test poems' realness, and
    the realness of each variant's poems."""
    from model.discriminator import load_discriminator
    from training.adversarial.discriminator import Options, fit_classifier

    def realness(judge, records):
        return judge.realness([[r["text"]] for r in records], [r["form"] for r in records])

    settings = Options(generator=Path(options.base), corpus=options.corpus, seed=options.seed)
    with tempfile.TemporaryDirectory(prefix="yinshi-judge-") as scratch:
        staging, result = fit_classifier(
            Path(options.base), tokenizer, pairs, Path(scratch), settings, rng
        )
        judge = load_discriminator(staging, device=device)
        real_scores = realness(judge, test_real)
        found = {name: realness(judge, records) for name, (records, _) in scored.items()}
    record = {
        "train_real": len(pairs),
        "train_fake": len(pairs),
        "test_real": len(test_real),
        "real_realness": round(mean(real_scores), 4) if real_scores else None,
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 4),
    }
    return record, real_scores, found


def poem_text(poem) -> str | None:
    return "".join(poem.lines) if poem is not None else None


def variant_metrics(records, nll, realness, known: set, seed: int) -> dict:
    """The comparison's measures of one variant's poems (see `metrics.DEFINITIONS`)."""
    from model.prosody import analyze

    texts = [r["text"] for r in records]
    tokens = sum(n for _, n in nll)
    first_lines = [lines[0] for lines in map(metrics.poem_lines, texts) if lines]
    subsample = random.Random(seed).sample(texts, min(SELF_BLEU_SAMPLE, len(texts)))
    conforms = [analyze(r["text"], form=r["form"]).conforms for r in records]
    return {
        "n": len(records),
        "conform": metrics.share(conforms) if conforms else None,
        "ppl_base": math.exp(sum(s for s, _ in nll) / tokens) if tokens else None,
        "realness": mean(realness) if realness else None,
        "distinct_1": metrics.distinct_n(texts, 1),
        "distinct_2": metrics.distinct_n(texts, 2),
        "self_bleu_2": metrics.self_bleu(subsample, 2),
        "self_bleu_4": metrics.self_bleu(subsample, 4),
        "unique_first_lines": len(set(first_lines)) / len(first_lines) if first_lines else None,
        "copy": metrics.copy_rate(texts, known),
    }


def critic_record(model_dir: Path) -> dict | None:
    """What ``yinshi train discriminator`` recorded about a generator's own critic, if any."""
    info = Path(model_dir) / DIR_NAME / INFO_FILE
    if not info.is_file():
        return None
    try:
        record = json.loads(info.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"{info} 不是合法 JSON / invalid JSON: {error}") from error
    keys = ("test_auc", "train_real", "test_real", "steps", "generator_version")
    return {key: record.get(key) for key in keys}


def mean(values) -> float:
    return sum(values) / len(values)
