"""``yinshi eval --compare``: the base, reranked and adversarially tuned poets side by side.

Every variant writes the same constrained poems: ``samples`` 近体 requests (the four regular
forms in turn) and ``ci_samples`` 词 requests (test 词 of a tune the engine knows), each with
the title of a real test poem and the same seed per request. Each variant's poems are
measured by the same yardsticks: a fresh 格律 analysis, perplexity under the base model, the
realness a fresh judge gives them, the diversity measures that show mode collapse (distinct-n,
self-BLEU, unique first lines) and copying, and what the poems say (training/lm/content.py:
重字, relevance to the title, 对仗, 虚字 at line ends), per form. The real test poems the
titles came from are measured the same way, as the ``real`` row.

The judge is a discriminator trained for this comparison only, on real poems of the
validation split (the generator and its own critic learnt from train) against samples of
every variant in equal shares, written with other seeds than the measured ones. A tuned
generator may have learnt to fool its own critic; it has never seen this one. The judge's
held-out AUC is real test poems against the measured samples; it lives in a temporary dir.
It knows 近体 only: realness and AUC are over the 近体 poems.

With a sweep (``--sweep FILE``), the variants are instead the shipped poet under engine
settings of one's choosing — sampling, candidates, the taste weights, the critic's weight —
all under the one judge: how the defaults were chosen (model card).

Torch is imported only when a comparison runs, so bad arguments fail fast.
"""

import json
import math
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from model.discriminator import DIR_NAME, INFO_FILE
from model.prompt import clean_title
from training.lm import content, metrics
from training.lm.data import read_records
from yinshi.errors import UserError
from yinshi.prosody import ProsodyInputError
from yinshi.prosody.cipai import find_tune
from yinshi.prosody.forms import REGULAR_FORMS
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
    """近体 requests (the four regular forms in turn)."""
    ci_samples: int = 100
    """词 requests, over test 词 of a tune the engine knows."""
    judge_per_form: int = 200
    """Real validation poems per form the judge learns from (as many fakes)."""
    seed: int = 0
    sweep: tuple["Variant", ...] = ()
    """Instead of the standard variants: these (`read_sweep`), one of them ``base``."""


def check(options: CompareOptions) -> None:
    """Bad arguments as a one-line `UserError`, before anything is loaded."""
    if options.samples < 1:
        raise UserError("--samples 须为正整数 / must be a positive integer")
    if options.ci_samples < 0:
        raise UserError("--ci-samples 须为非负整数 / must not be negative")
    if options.judge_per_form < 1:
        raise UserError("--judge-per-form 须为正整数 / must be a positive integer")
    if not options.alpha > 0:
        raise UserError("--alpha 须为正数 / must be positive")
    content.jieba_dictionary()  # 对仗 needs it: say so before minutes of writing poems
    paths = [("--model", options.base), *(("--adversarial", p) for p in options.adversarial)]
    for flag, path in paths:
        if not (Path(path) / "config.json").is_file():
            raise UserError(f"{flag} {path}: 找不到模型（缺 config.json） / no checkpoint there")


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    alpha: float = 0.0
    """Reranking weight of the checkpoint's discriminator (0: none)."""
    before: bool = False
    """The engine as it was before taste and the critic: the measured "before"."""
    critic: float | None = None
    """Weight of the critic shipped beside the weights (None: its critic.json's; 0: off)."""
    engine: "EngineSettings | None" = None
    """A sweep's settings (None: the engine as shipped)."""


@dataclass(frozen=True)
class EngineSettings:
    """What a sweep may change of the engine; None keeps the shipped value."""

    top_p: float | None = None
    temperature: float | None = None
    oversample: int | None = None
    """Candidates drawn per poem."""
    regroup: float | None = None
    """Lines between regroupings of a poem's candidates by the critic (0: none)."""
    repeat: float | None = None
    topic: float | None = None
    pair: float | None = None
    """The `Taste` weights."""


SWEEP_FIELDS = {*EngineSettings.__dataclass_fields__, "critic"}


def read_sweep(path: Path) -> tuple[Variant, ...]:
    """``{name: {setting: value}}`` from a JSON file (settings: `SWEEP_FIELDS`, numbers; and
    ``"model"``, another checkpoint dir, e.g. the same poet with another critic) → variants
    of the poet at ``base`` unless a model is named; a variant named ``base`` is added (as
    shipped) unless given."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"--sweep {path}: 读不出 JSON / not readable JSON: {error}") from error
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise UserError(f"--sweep {path}: 须为 {{名: {{设置: 值}}}} / must map names to settings")
    found = [] if "base" in settings else [("base", {})]
    variants = []
    for name, values in [*found, *settings.items()]:
        values = dict(values)
        model = values.pop("model", None)
        unknown = set(values) - SWEEP_FIELDS
        numbers = all(isinstance(v, int | float) and v >= 0 for v in values.values())
        if unknown or not numbers or not isinstance(model, str | None):
            known = " ".join(sorted(SWEEP_FIELDS))
            raise UserError(
                f"--sweep {name}: 设置须为非负数 / settings are numbers ≥ 0 of: {known}; "
                "and model, a checkpoint dir"
            )
        if model is not None and not (Path(model) / "config.json").is_file():
            raise UserError(f"--sweep {name}: {model}: 找不到模型 / no checkpoint there")
        engine = EngineSettings(**{k: v for k, v in values.items() if k != "critic"})
        variant = Variant(str(name), Path(model or ""), critic=values.get("critic"), engine=engine)
        variants.append(variant)
    return tuple(variants)


BEFORE_OVERSAMPLE = 2
"""Candidates per poem the engine drew before taste and the critic came (now `OVERSAMPLE`)."""
BEFORE_TEMPERATURE = 0.8
"""The requests' default temperature then (now 1.0)."""
BEFORE_TOP_P = 0.9
"""The requests' default top-p then (now 1.0)."""


def variants(options: CompareOptions) -> list[Variant]:
    """Every variant there is to compare: the shipped engine before taste, with taste alone
    (when a critic is shipped), as shipped; then any reranked and adversarially tuned poets."""
    from model.critic import FILE_NAME as CRITIC_FILE

    base = Path(options.base)
    if options.sweep:
        return [v if v.path != Path() else replace(v, path=base) for v in options.sweep]
    found = [Variant("before", base, before=True)]
    if (base / CRITIC_FILE).is_file():
        found.append(Variant("taste", base, critic=0.0))
    found.append(Variant("base", base))
    if (base / DIR_NAME / "config.json").is_file():
        found.append(Variant("reranked", base, options.alpha))
    for path in map(Path, options.adversarial):
        name = "adversarial" if len(options.adversarial) == 1 else f"adversarial-{path.name}"
        found.append(Variant(name, path))
    return found


def load_variant(variant: Variant, device: str):
    """The variant's generator. ``before``: no critic, no taste (`PLAIN`), two candidates a
    poem, every request at the temperature and top-p that were the default — the same poems,
    seed for seed, as the engine wrote before taste existed."""
    from model.generation import load_generator
    from model.generation.constraints import PLAIN

    if variant.before:
        generator = load_generator(variant.path, device=device, critic_alpha=0.0)
        generator.taste = PLAIN
        generator.oversample = BEFORE_OVERSAMPLE
        return _requests_with(generator, {"temperature": BEFORE_TEMPERATURE, "top_p": BEFORE_TOP_P})
    generator = load_generator(
        variant.path, device=device, discriminator_alpha=variant.alpha, critic_alpha=variant.critic
    )
    engine = variant.engine
    if engine is None:
        return generator
    taste = {k: getattr(engine, k) for k in ("repeat", "topic", "pair")}
    generator.taste = replace(generator.taste, **{k: v for k, v in taste.items() if v is not None})
    if engine.oversample is not None:
        generator.oversample = engine.oversample
    if engine.regroup is not None:
        generator.regroup_every = engine.regroup
    sampling = {k: getattr(engine, k) for k in ("top_p", "temperature")}
    return _requests_with(generator, {k: v for k, v in sampling.items() if v is not None})


def _requests_with(generator, fields: dict):
    """The generator, every request it writes with ``fields`` in place of its own."""
    if not fields:
        return generator
    generate = generator.generate

    def with_fields(requests, score=None):
        return generate([r.model_copy(update=fields) for r in requests], score)

    generator.generate = with_fields
    return generator


@dataclass(frozen=True)
class Planned:
    """One request and the real test poem its title came from (None: the form's name)."""

    request: PoemRequest
    real: dict | None


def plan_requests(test: list[dict], n: int, seed: int, ci: int = 0) -> list[Planned]:
    """``n`` 近体 requests, the regular forms in turn, each form's test poems shuffled and
    cycled; then ``ci`` 词 requests over the shuffled test 词 whose tune the engine knows
    (form: the tune's name). Seeds run on from ``seed``."""
    rng = random.Random(seed)
    poems = {}
    for form in REGULAR_FORMS:
        of_form = [r for r in test if r["form"] == form]
        rng.shuffle(of_form)
        poems[form] = of_form
    planned = []
    for i in range(n):
        form = REGULAR_FORMS[i % len(REGULAR_FORMS)]
        pool = poems[form]
        real = pool[(i // len(REGULAR_FORMS)) % len(pool)] if pool else None
        title = clean_title((real or {}).get("title") or "") or form  # no test poem: its name
        planned.append(Planned(PoemRequest(topic=title, form=form, seed=seed + i), real))
    ci_poems = [(r, tune) for r in test if r["form"] == "词" and (tune := known_tune(r))]
    rng.shuffle(ci_poems)
    for j in range(ci if ci_poems else 0):
        real, tune = ci_poems[j % len(ci_poems)]
        title = clean_title(real.get("title") or "") or tune
        planned.append(Planned(PoemRequest(topic=title, form=tune, seed=seed + n + j), real))
    return planned


def known_tune(record: dict) -> str | None:
    """The engine's name for a 词's tune (aliases resolved), None if it does not know it."""
    try:
        return find_tune(record.get("tune") or "")[0]
    except ProsodyInputError:
        return None


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
    """The ``variants`` section of the report: settings, judges, critics, one entry per
    variant, and ``real``: the test poems the titles came from, measured the same way."""
    import torch

    from training.adversarial.discriminator import auc, pick_real

    check(options)
    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = random.Random(options.seed)
    test = read_records(options.corpus, "test")
    planned = plan_requests(test, options.samples, options.seed, options.ci_samples)
    requests = [p.request for p in planned]
    real_ids = [(p.real or {}).get("id") for p in planned]
    judge_real = pick_real(read_records(options.corpus, "val"), options.judge_per_form, rng)
    written = write_all(options, planned, judge_real, device)
    if not written.judge_pairs:
        raise UserError("验证集中没有可用的近体诗 / no regular verse in val to train the judge")
    test_real = pick_real(test, options.judge_per_form, rng)
    scored = {**written.scored, "real": written.real}
    judge, real_scores, realness = train_judge(
        options, written.tokenizer, written.judge_pairs, test_real, scored, rng, device
    )
    all_fake = [p for name, scores in realness.items() if name != "real" for p in scores]
    judge["test_fake"] = len(all_fake)
    judge["test_auc"] = round(auc(real_scores, all_fake), 4) if real_scores and all_fake else None
    train = read_records(options.corpus, "train")
    measures = ContentJudges.build(train, test)
    section = {
        "settings": {
            "base": str(options.base),
            "adversarial": [str(path) for path in options.adversarial],
            "alpha": options.alpha,
            "samples": options.samples,
            "ci_samples": options.ci_samples,
            "ci_requested": sum(r.form not in REGULAR_FORMS for r in requests),
            "judge_per_form": options.judge_per_form,
            "seed": options.seed,
            "self_bleu_sample": SELF_BLEU_SAMPLE,
        },
        "judge": judge,
        "content_judge": measures.record,
        "critics": {},
        "generators": {},
    }
    for variant in variants(options):
        own = variant.name not in ("reranked", "taste") and not variant.before  # `base` has it
        record = critic_record(variant.path) if own else None
        if record is not None:
            section["critics"][variant.name] = record
    known = metrics.corpus_lines(r["text"] for r in train)
    for name, (records, nll) in scored.items():
        row = variant_metrics(records, nll, realness[name], known, options.seed)
        row["content"] = measures.rows(records, options.seed)
        row["requested"] = len(requests)
        fakes = realness[name] if name != "real" else []
        row["judge_auc"] = round(auc(real_scores, fakes), 4) if real_scores and fakes else None
        if name == "real":
            section["real"] = row
            continue
        seconds = written.seconds[name]
        row["write_seconds"] = round(seconds, 2)
        row["poems_per_s"] = len(records) / seconds if seconds > 0 else None
        row["samples"] = [
            {"title": r.topic, "form": r.form, "seed": r.seed, "text": poem_text(p), "real": real}
            for r, p, real in zip(requests, written.poems[name], real_ids, strict=True)
        ]
        section["generators"][name] = row
    section["seconds"] = round(time.perf_counter() - started, 1)
    return section


@dataclass
class ContentJudges:
    """What the content measures need: the topic judge (train), distractor titles (test),
    word classes (jieba's dictionary), and how long they took to build."""

    topic: content.TopicJudge
    classes: dict[str, str]
    pools: dict[str, list[str]]
    record: dict

    @classmethod
    def build(cls, train: list[dict], test: list[dict]) -> "ContentJudges":
        started = time.perf_counter()
        topic = content.TopicJudge.build(train)
        classes = content.jieba_classes()
        record = {
            "train_works": topic.works,
            "title_chars": len(topic.title_index),
            "body_chars": len(topic.body_index),
            "word_classes": len(classes),
            "seconds": round(time.perf_counter() - started, 1),
        }
        return cls(topic, classes, content.title_pools(test), record)

    def rows(self, records: list[dict], seed: int) -> dict[str, dict]:
        """The content table rows (per form, and all) of one variant's `poem_record`s, each
        with its 合律率."""
        rows = content.content_rows(records, self.topic, self.classes, self.pools, seed)
        for group, row in rows.items():
            flags = [r["conforms"] for r in records if group in ("all", r["group"])]
            row["conform"] = metrics.share(flags) if flags else None
        return rows


@dataclass
class Written:
    """What `write_all` returns: every variant's poems and what was measured of them."""

    poems: dict[str, list]
    """Per variant, per request: its poem, None where the engine wrote none."""
    scored: dict[str, tuple[list[dict], list]]
    """Per variant: (its `poem_record`s, the base's NLL of each)."""
    real: tuple[list[dict], list]
    """The same for the real test poems the requests' titles came from."""
    seconds: dict[str, float]
    """Per variant: the wall time of writing its poems."""
    judge_pairs: list
    tokenizer: object


def write_all(options: CompareOptions, planned: list[Planned], judge_real, device: str):
    """Every variant's poems (timed), the judge's training pairs, and the base's NLL of each
    variant's poems and of the real poems behind the requests."""
    from training.adversarial.discriminator import write_fakes
    from training.lm.perplexity import body_nll

    chosen = variants(options)
    requests = [p.request for p in planned]
    poems: dict[str, list] = {}
    seconds: dict[str, float] = {}
    judge_pairs: list = []
    base = None
    for k, variant in enumerate(chosen):
        name = variant.name
        generator = load_variant(variant, device)
        started = time.perf_counter()
        poems[name] = write_poems(generator, requests)
        seconds[name] = time.perf_counter() - started
        # every len(chosen)-th val poem gets its fake from this variant: an even mix of all
        seed = options.seed + JUDGE_SEED_OFFSET + k * len(judge_real)
        judge_pairs += write_fakes(generator, judge_real[k :: len(chosen)], seed)
        if name == "base":
            base = generator
        del generator
    assert base is not None
    tunes = set(base.tune_tokens)

    def with_nll(records: list[dict]) -> tuple[list[dict], list]:
        return records, body_nll(base.model, base.tokenizer, records, tunes) if records else []

    scored = {
        name: with_nll(
            [
                poem_record(i, r, r.form, poem_text(p), getattr(p, "mask_nll", None))
                for i, (r, p) in enumerate(zip(requests, found, strict=True))
                if p is not None
            ]
        )
        for name, found in poems.items()
    }
    real = with_nll(
        [
            poem_record(i, p.request, p.request.form, p.real["text"])
            for i, p in enumerate(planned)
            if p.real is not None
        ]
    )
    return Written(poems, scored, real, seconds, judge_pairs, base.tokenizer)


def poem_record(
    index: int, request: PoemRequest, form: str, text: str, mask_nll: float | None = None
) -> dict:
    """One poem as the measures read it. ``form`` is the request's (a 词牌 name for a 词): what
    `analyze` checks it as and, for a 词, the tune its prompt names; ``group`` its row."""
    from yinshi.prosody import analyze

    group = content.group_of(form)
    try:
        conforms = analyze(text, form=form).conforms
    except ProsodyInputError:  # a real 词 of another shape than the tune table's
        conforms = False
    return {
        "index": index,
        "group": group,
        "form": "词" if group == "词" else form,
        "tune": form if group == "词" else None,
        "title": request.topic,
        "text": text,
        "conforms": conforms,
        "mask_nll": mask_nll,
    }


def train_judge(options, tokenizer, pairs, test_real, scored, rng, device):
    """Fit the fresh judge in a temporary dir: its record, the real test poems' realness, and
    the realness of each variant's poems."""
    from model.discriminator import load_discriminator
    from training.adversarial.discriminator import Options, fit_classifier

    def realness(judge, records):
        regular = [r for r in records if r["form"] in REGULAR_FORMS]  # the judge knows 近体
        return judge.realness([[r["text"]] for r in regular], [r["form"] for r in regular])

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
    texts = [r["text"] for r in records]
    tokens = sum(n for _, n in nll)
    first_lines = [lines[0] for lines in map(metrics.poem_lines, texts) if lines]
    subsample = random.Random(seed).sample(texts, min(SELF_BLEU_SAMPLE, len(texts)))
    conforms = [r["conforms"] for r in records]
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
