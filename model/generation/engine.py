"""`generate`: a batch of poem requests in, a result or a `FormError` per request out.

Per request: plan its layouts (refusing the impossible with a FormError), sample
`n * OVERSAMPLE` candidates, each with a layout drawn by the request's seed, decode all
candidates of the batch together (one decode per rhyme scheme), rank them by `score` (with
a critic shipped beside the weights, `model.critic`: its log P(real) counts too, and a poem's
candidates regroup as they are written: at each caesura and line end all go on from the best
so far), and keep the best `n` that the analyser confirms. A candidate the analyser rejects
is a bug in the constraints: it is logged, counted in the stats and passed over (another
round decodes more if a request is short), never returned.
"""

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import load_checkpoint
from model.discriminator import DIR_NAME as DISCRIMINATOR_DIR
from model.discriminator import load_discriminator, mixed_score
from yinshi.prosody import analyze
from yinshi.protocol import Poem, PoemRequest, PoemResult

from .constraints import TASTE, Constraints, Taste, render
from .copies import FILE_NAME, LineSet
from .decode import Decoded, Regroup, Row, decode
from .errors import FormError, GenerationError
from .lexicon import FILE_NAME as LEXICON_FILE
from .lexicon import Lexicon
from .plan import Layout, choose, plan
from .ranking import Candidate, Score, steered, steered_logprob
from .vocab import VocabTables, build_tables

log = logging.getLogger("yinshi.generation")

OVERSAMPLE = 4
"""Candidates per wanted poem; the best by score are returned. Four rather than two: each
candidate draws its own template (平起/仄起, 首句入韵) and settles its rhyme group where its
first rhyme falls, so ranking whole candidates by the model's probability chooses template
and rhyme by what the model can write to the end, not blind."""
REGROUP_EVERY = 0.5
"""Where a poem's candidates all go on from the best of them so far by the critic
(`decode.Regroup`), in lines: 0.5 at every caesura and line end, 1 at line ends, 2 at the end
of each couplet, 0 never (each candidate written to the end on its own). It costs no more
decoding; against ranking whole poems only, a fresh judge told the poems from real ones less
well with every finer step (model card)."""
MAX_ROWS = 128
"""Candidates decoded together at most: the KV cache grows with rows × length (a GPU can take
many more: pass `max_rows`)."""
ROUNDS = 3
"""Decoding rounds for requests still short of poems (failed or rejected candidates)."""
STAT_KEYS = (
    "candidates",
    "resampled",
    "rejected_copies",
    "rejected_repeats",
    "dead_ends",
    "nonconforming",
    "replans",
)


class Generator:
    """A loaded model with everything derived from it, built once per process."""

    def __init__(
        self,
        model,
        tokenizer,
        model_version: str,
        copies: LineSet | None = None,
        max_rows: int = MAX_ROWS,
        lexicon: Lexicon | None = None,
        taste: Taste = TASTE,
        oversample: int = OVERSAMPLE,
        regroup_every: float = REGROUP_EVERY,
    ):
        self.model = model
        self.regroup_every = regroup_every
        self.lexicon = lexicon
        self.taste = taste
        self.oversample = oversample
        self.max_rows = max_rows
        self.tokenizer = tokenizer
        self.model_version = model_version
        self.copies = copies
        self.tune_tokens = frozenset(
            token[1:-1] for token in tokenizer.get_vocab() if token[:1] == "<" and token[-1:] == ">"
        )
        """Names inside every control token: the 词牌 among them have their own token."""
        self.max_positions = model.config.n_positions
        self._tables: dict[str, VocabTables] = {}

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of prompts (control tokens included in the text, none added)."""
        encoded = self.tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encoded]

    def tables(self, scheme: str) -> VocabTables:
        if scheme not in self._tables:
            self._tables[scheme] = build_tables(self.tokenizer, scheme).to(self.model.device)
        return self._tables[scheme]

    score: Score = staticmethod(steered_logprob)
    """The default ranking; `load_generator` swaps in the discriminator's when asked to."""

    def generate(
        self, requests: Sequence[PoemRequest], score: Score | None = None
    ) -> list[PoemResult | FormError | GenerationError]:
        return generate(requests, self, score or self.score)


def load_generator(
    model_dir: str | Path | None = None,
    device: str = "cpu",
    discriminator_alpha: float = 0.0,
    critic_alpha: float | None = None,
) -> Generator:
    """Load a checkpoint (the shipped one by default) and its training-line set, if shipped.

    With a ``critic.safetensors`` beside the weights, candidates are ranked by
    `model.critic.CriticScore`, its weight ``critic_alpha`` (None: the one its ``critic.json``
    recommends; 0: off). With ``discriminator_alpha`` > 0 and a ``discriminator/`` dir beside
    the weights, they are ranked by `model.discriminator.mixed_score` instead. Either way the
    model version names the critic (and the lexicon) too, so cached poems written or ranked
    the old way are not served.
    """
    from model.critic import digest, load_critic_score

    checkpoint = load_checkpoint(model_dir, device=device)
    lines_path = checkpoint.path / FILE_NAME
    copies = LineSet.load(lines_path) if lines_path.is_file() else None
    if copies is None:
        log.info("event=no_line_set path=%s copies_not_checked=1", lines_path)
    version = model_version(checkpoint.path)
    lexicon_path = checkpoint.path / LEXICON_FILE
    lexicon = None
    if lexicon_path.is_file():  # it shapes every poem: a new one must not hit an old cache
        lexicon = Lexicon.load(lexicon_path, device)
        version = f"{version}+lexicon-{digest(lexicon_path)}"
    generator = Generator(checkpoint.model, checkpoint.tokenizer, version, copies, lexicon=lexicon)
    critic = load_critic_score(
        checkpoint.path, checkpoint.model, checkpoint.tokenizer, critic_alpha
    )
    if critic is not None:
        generator.score = critic
        generator.model_version = f"{version}+{critic.version}"
        log.info("event=critic version=%s", critic.version)
    judge_dir = checkpoint.path / DISCRIMINATOR_DIR
    if discriminator_alpha > 0 and judge_dir.is_dir():
        discriminator = load_discriminator(judge_dir, device=device)
        generator.score = mixed_score(discriminator, discriminator_alpha)
        generator.model_version = f"{version}+{model_version(judge_dir)}@{discriminator_alpha:g}"
        log.info("event=discriminator path=%s alpha=%s", judge_dir, discriminator_alpha)
    elif discriminator_alpha > 0:
        log.warning("event=no_discriminator path=%s ranking=logprob", judge_dir)
    return generator


def model_version(path: Path) -> str:
    """The dir name and a digest of the weights: a retrained model never hits an old cache."""
    weights = path / "model.safetensors"
    source = weights if weights.is_file() else path / "config.json"
    digest = hashlib.sha256()
    with source.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name}-{digest.hexdigest()[:12]}"


@dataclass
class _Slot:
    """One request's progress through the rounds."""

    request: PoemRequest
    layouts: list[Layout]
    rng: random.Random
    found: list[Poem]
    stats: dict[str, int]

    def accept(self, candidates: list[tuple[float, Candidate]], scheme: str) -> None:
        """Take the best candidates, best first, until `n` poems pass the 格律 check, at most
        one of each family (siblings that regrouped share their first lines).

        Only those are analysed: the rest are never shown, and every one that is checked
        should pass (a failure is a bug in the constraints, logged and skipped).
        """
        taken: set[int] = set()
        for value, candidate in sorted(candidates, key=lambda item: -item[0]):
            if len(self.found) == self.request.n:
                return
            if candidate.family in taken:
                continue
            poem = _poem(self.request, candidate, scheme, value)
            if poem is None:
                self.stats["nonconforming"] += 1
                form, text = candidate.layout.form, "".join(candidate.lines)
                log.error("event=nonconforming form=%s lines=%s", form, text)
                continue
            self.found.append(poem)
            if candidate.family is not None:
                taken.add(candidate.family)


def generate(
    requests: Sequence[PoemRequest], generator: Generator, score: Score = steered_logprob
) -> list[PoemResult | FormError | GenerationError]:
    """Answer every request; a request that cannot be met gets its FormError in its place."""
    started = time.perf_counter()
    answers: list = [None] * len(requests)
    planned: dict[int, list[Layout]] = {}
    for i, request in enumerate(requests):
        try:
            planned[i] = plan(request, generator.tables(request.scheme), generator.tune_tokens)
        except FormError as error:
            answers[i] = error
    prompts = sorted({layout.prompt for layouts in planned.values() for layout in layouts})
    prompt_ids = dict(zip(prompts, generator.encode(prompts), strict=True))
    slots: dict[int, _Slot] = {}
    for i, layouts in planned.items():
        request = requests[i]
        try:
            _check_length(layouts, prompt_ids, generator.max_positions)
        except FormError as error:
            answers[i] = error
            continue
        seed = request.seed if request.seed is not None else secrets.randbits(64)
        slots[i] = _Slot(request, layouts, random.Random(seed), [], dict.fromkeys(STAT_KEYS, 0))

    for round_number in range(ROUNDS):
        wanted = {
            i: (slot.request.n - len(slot.found)) * generator.oversample
            for i, slot in slots.items()
            if len(slot.found) < slot.request.n
        }
        if not wanted:
            break
        for scheme in sorted({slots[i].request.scheme for i in wanted}):
            jobs = [
                (
                    i,
                    choose(slots[i].layouts, slots[i].rng),
                    slots[i].rng.getrandbits(63),
                    k // generator.oversample,
                )
                for i, count in wanted.items()
                if slots[i].request.scheme == scheme
                for k in range(count)
            ]
            for i, *_ in jobs:
                slots[i].stats["candidates"] += 1
                slots[i].stats["replans"] += round_number > 0
            for i, candidates in _decode_jobs(jobs, slots, prompt_ids, generator, score).items():
                slots[i].accept(candidates, scheme)

    elapsed_ms = (time.perf_counter() - started) * 1000
    for i, slot in slots.items():
        if not slot.found:
            answers[i] = GenerationError(f"未能写成合律的诗，请重试 / no valid poem ({slot.stats})")
            continue
        answers[i] = PoemResult(
            poems=slot.found,
            model_version=generator.model_version,
            timing_ms=round(elapsed_ms, 1),
            stats=slot.stats,
        )
    return answers


def _steps(layout: Layout) -> int:
    """Body tokens of a layout: every character, every mark, <eos>."""
    return sum(spec.length + 1 for spec in layout.lines) + 1


def _check_length(layouts: list[Layout], prompt_ids: dict[str, list[int]], limit: int) -> None:
    for layout in layouts:
        total = len(prompt_ids[layout.prompt]) + _steps(layout)
        if total > limit:
            raise FormError(
                f"此体太长，模型写不下（{total} > {limit} 字） / too long for the model"
            )


def _decode_jobs(
    jobs, slots: dict[int, _Slot], prompt_ids, generator: Generator, score
) -> dict[int, list[tuple[float, Candidate]]]:
    """Decode in chunks of at most `max_rows`, similar lengths together: scored candidates."""
    jobs = sorted(jobs, key=lambda job: (_steps(job[1]), len(prompt_ids[job[1].prompt])))
    found: dict[int, list[tuple[float, Candidate]]] = {}
    for start in range(0, len(jobs), generator.max_rows):
        chunk = jobs[start : start + generator.max_rows]
        decoded = list(_decode_chunk(chunk, slots, prompt_ids, generator, score))
        candidates = [candidate for _, candidate in decoded]
        # A score with `batch` (the discriminator's) scores the chunk in one pass.
        batch = getattr(score, "batch", None)
        values = batch(candidates) if batch and candidates else map(score, candidates)
        for (i, candidate), value in zip(decoded, values, strict=True):
            found.setdefault(i, []).append((value, candidate))
    return found


def _decode_chunk(jobs, slots: dict[int, _Slot], prompt_ids, generator: Generator, score):
    """(request index, candidate) for every row that decoded to the end."""
    scheme = slots[jobs[0][0]].request.scheme
    tables = generator.tables(scheme)
    layouts = [layout for _, layout, _, _ in jobs]
    rows = []
    for i, layout, seed, _ in jobs:
        request = slots[i].request
        prompt = prompt_ids[layout.prompt]
        rows.append(Row(prompt, _steps(layout), request.temperature, request.top_p, seed))
    constraints = Constraints(
        tables,
        layouts,
        generator.copies,
        generator.tokenizer.unk_token_id,
        generator.lexicon,
        generator.taste,
    )
    pad_id = generator.tokenizer.pad_token_id
    pool_layer = getattr(score, "layer", None)  # a critic reads this block's states
    regroup = _regroup(jobs, constraints, score, generator.regroup_every)
    decoded = decode(
        generator.model, rows, constraints, pad_id=pad_id, pool_layer=pool_layer, regroup=regroup
    )
    for row, ((i, _, _, family), result) in enumerate(zip(jobs, decoded, strict=True)):
        stats = slots[i].stats
        stats["resampled"] += result.resampled
        stats["rejected_copies"] += result.copies
        stats["rejected_repeats"] += result.repeats
        if result.failed:
            stats["dead_ends"] += 1
            continue
        layout = constraints.layouts[row]  # a sibling's, where it went on from one
        lines = render(layout, result.tokens, tables)
        yield (
            i,
            Candidate(
                slots[i].request,
                layout,
                lines,
                result.logprob,
                result.sampled,
                result.masked,
                result.taste,
                result.pooled,
                family if regroup is not None and regroup.family[row] >= 0 else None,
            ),
        )


def _regroup(jobs, constraints: Constraints, score, every: float) -> Regroup | None:
    """Families of the candidates of one poem, for forms the critic knows (None without a
    critic, or when regrouping is off): they regroup by the critic every ``every`` lines."""
    prefix = getattr(score, "prefix", None)
    if not every or prefix is None:
        return None
    keys: dict[tuple[int, int], int] = {}
    family = [
        keys.setdefault((i, k), len(keys)) if layout.form in score.forms and not layout.tune else -1
        for i, layout, _, k in jobs
    ]
    steps = [constraints.regroup_steps(row, every) for row in range(len(jobs))]

    def rank(results: Sequence[Decoded], pooled) -> list[float]:
        return prefix([steered(r.logprob, r.taste, r.sampled) for r in results], pooled)

    return Regroup(family, steps, rank)


def _poem(request, candidate: Candidate, scheme: str, score: float) -> Poem | None:
    """The poem with its analysis, or None if it breaks what the request promised."""
    layout, lines = candidate.layout, candidate.lines
    analysis = analyze("".join(lines), form=layout.form, scheme=scheme)
    shape_ok = not any(v.kind in ("lines", "length") for v in analysis.violations)
    if not shape_ok or (request.strict and not analysis.conforms):
        return None
    return Poem(
        title=request.topic.strip(),
        lines=lines,
        form="词" if layout.tune else layout.form,
        tune=layout.tune,
        template=analysis.template,
        rhyme_group=analysis.rhyme_group,
        conforms=analysis.conforms,
        analysis=analysis.to_dict(),
        score=round(score, 4),
        mask_nll=round(candidate.masked / max(candidate.sampled, 1), 4),
    )
