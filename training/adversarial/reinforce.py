"""Adversarial fine-tuning: the poet as a policy, rewarded by the discriminator (SeqGAN-style).

The policy is the poet *under the product's constraints*: each step writes a batch of one
regular form with the engine's layouts and the lean decoder at temperature 1, top-p 1 and no
top-k, so a sampled character is drawn from the model's softmax renormalised over what the
constraints allow there — nothing else. Training on unconstrained samples would teach the
model about poems it is never allowed to write.

The log-probability of a sample is that of the same distribution: the body is teacher-forced
through the model (with gradient) and the constraints are replayed over the sampled tokens to
get each step's allowed set, including the line ends the decoder would have resampled as a
copy of a training line or a repeat. Forced steps (marks, ``<eos>``) offer no choice and carry
no gradient. The loss is REINFORCE with a batch-mean baseline on log P(real), plus a KL
penalty to the initial poet over the same allowed sets, so the poet cannot drift into
whatever the discriminator happens to miss. Every ``d_every`` steps the discriminator trains
on the policy's latest poems against real ones, so the reward keeps moving with the poet.
"""

import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.checkpoint import read_info, save_dtype
from model.discriminator import (
    DIR_NAME,
    INFO_FILE,
    MIN_REALNESS,
    REAL,
    Discriminator,
    classifier_text,
    load_discriminator,
)
from model.generation import Generator
from model.generation.constraints import PLAIN, Constraints, render
from model.generation.copies import FILE_NAME as LINES_FILE
from model.generation.copies import LineSet
from model.generation.decode import Row, decode
from model.generation.engine import model_version
from model.generation.plan import Layout, choose, plan
from model.prompt import MAX_TITLE_CHARS, clean_title
from training.lm import artifacts
from training.lm.data import read_records
from training.lm.metrics import distinct_n
from training.lm.perplexity import perplexities
from training.lm.train import key_values, load_model, load_tokenizer
from yinshi.errors import UserError
from yinshi.prosody.forms import REGULAR_FORMS
from yinshi.prosody.rules import FORM_SHAPES
from yinshi.protocol import PoemRequest

SCHEME = "pingshui"
"""The rhyme book of the product's default request."""
MASKED = -1e9
"""Logit of a disallowed token: exp gives exactly 0, and unlike -inf it keeps the KL's
0 · (log p − log q) terms (and their gradients) at 0 rather than NaN."""
ADVANTAGE_EPS = 1e-6
GRAD_CLIP = 1.0
D_LEARNING_RATE = 5e-5
"""What `yinshi train discriminator` trains it at. At 1e-5, one step every 10 policy steps, the
critic fell behind: a first run drove its accuracy on the poet's samples to 0.20."""
LONGEST_PROMPT = MAX_TITLE_CHARS + 3
"""<bos>, the form token, the title, <sep> (one token a character): a form is trained on only
if its poems fit the model's context after the longest prompt."""


@dataclass(frozen=True)
class Options:
    init: Path
    corpus: Path
    out: Path
    steps: int
    discriminator: Path | None = None
    """Default: ``<init>/discriminator``, where `yinshi train discriminator` puts it."""
    batch_size: int = 32
    learning_rate: float = 1e-5
    kl_coef: float = 0.5
    d_every: int = 2
    d_steps: int = 2
    """Discriminator updates every ``d_every`` steps; 0 keeps it fixed."""
    seed: int = 0
    max_minutes: float | None = None


@dataclass
class Sampled:
    """One batch of poems of one form, as decoded (failed rows already dropped)."""

    form: str
    layouts: list[Layout]
    prompts: list[list[int]]
    tokens: torch.Tensor
    """[poems, steps] body token ids on CPU; all rows of a regular form are equally long."""
    lines: list[list[str]]
    logprob: list[float]
    """Per poem, the decoder's sum of unmasked log-probabilities of its sampled tokens."""


@dataclass
class Replayed:
    """Where each poem had a choice, what it could choose from and what it chose."""

    choice: torch.Tensor
    """[poems, steps] bool: the token was sampled, not forced."""
    allowed: torch.Tensor
    """[choices, V] bool, one row per True of `choice` in row-major order."""
    actions: torch.Tensor
    """[choices] the sampled token ids."""
    rows: torch.Tensor
    """[choices] the poem each choice belongs to."""


def sample(generator: Generator, titles: list[str], form: str, rng: random.Random) -> Sampled:
    """One constrained poem per title, each with its own layout and seed drawn from ``rng``."""
    tables = generator.tables(SCHEME)
    layouts, seeds = [], []
    for title in titles:
        request = PoemRequest(topic=title, form=form, scheme=SCHEME)
        layouts.append(choose(plan(request, tables, generator.tune_tokens), rng))
        seeds.append(rng.getrandbits(63))
    prompts = generator.encode([layout.prompt for layout in layouts])
    unk_id = generator.tokenizer.unk_token_id
    # the rules alone (no taste weights): the replay's softmax over the allowed set is then
    # exactly the distribution sampled from
    constraints = Constraints(tables, layouts, generator.copies, unk_id, taste=PLAIN)
    steps = constraints.forced.shape[1]  # every layout of a regular form is this long
    rows = [Row(prompt, steps, 1.0, 1.0, seed) for prompt, seed in zip(prompts, seeds, strict=True)]
    decoded = decode(
        generator.model,
        rows,
        constraints,
        pad_id=generator.tokenizer.pad_token_id,
        top_k=generator.model.config.vocab_size,
    )
    kept = [b for b, result in enumerate(decoded) if result.failed is None]
    tokens = torch.tensor([decoded[b].tokens for b in kept], dtype=torch.long)
    return Sampled(
        form=form,
        layouts=[layouts[b] for b in kept],
        prompts=[prompts[b] for b in kept],
        tokens=tokens.reshape(len(kept), steps),
        lines=[render(layouts[b], decoded[b].tokens, tables) for b in kept],
        logprob=[decoded[b].logprob for b in kept],
    )


def replay(generator: Generator, sampled: Sampled) -> Replayed:
    """Run fresh constraints over the sampled tokens, recording every step's allowed set.

    The decoder's state after step t depends only on the tokens taken up to t, so feeding it
    the sampled tokens reproduces the masks it sampled from.
    """
    tables = generator.tables(SCHEME)
    constraints = Constraints(
        tables, sampled.layouts, generator.copies, generator.tokenizer.unk_token_id, taste=PLAIN
    )
    history = sampled.tokens
    device = tables.han.device
    allowed = torch.zeros((*history.shape, len(tables.chars)), dtype=torch.bool, device=device)
    for t in range(history.shape[1]):
        mask = constraints.allowed(t)[0] > 0
        _drop_rejected(constraints, t, mask, history)
        allowed[:, t] = mask
        constraints.advance(t, history[:, t].to(device))
        constraints.finish_lines(t, history[:, t].tolist(), history)
    choice = constraints.forced < 0  # [poems, steps], on CPU like the history
    rows, steps = choice.nonzero(as_tuple=True)  # row-major, as `logits[choice]` is
    choice = choice.to(device)
    return Replayed(
        choice=choice,
        allowed=allowed[choice],
        actions=history[rows, steps].to(device),
        rows=rows.to(device),
    )


def _drop_rejected(constraints: Constraints, t: int, mask: torch.Tensor, history) -> None:
    """Clear in ``mask`` every line-ending character the decoder would resample at step t.

    The decoder redraws a line's last character while the line copies a training line or
    repeats one of the poem's; that is sampling from the allowed set without those, so the
    replay removes all of them, not only the ones it happened to draw.
    """
    if t not in constraints.check_steps:
        return
    tables = constraints.tables
    on_cpu = mask.cpu()
    where: list[tuple[int, int]] = []
    texts: list[str] = []
    for row, layout in enumerate(constraints.layouts):
        end = constraints.line_ends[row].get(t)
        if end is None or constraints.forced[row, t] >= 0:
            continue
        line, first = end
        spec = layout.lines[line]
        ids = history[row, first:t].tolist()
        prefix = spec.fixed + "".join(tables.chars[x] for x in ids[len(spec.fixed) :])
        for token in on_cpu[row].nonzero().flatten().tolist():
            where.append((row, token))
            texts.append(prefix + tables.chars[token])
    if constraints.copies is not None:
        copied = constraints.copies.contains_each(texts)
    else:
        copied = np.zeros(len(texts), dtype=bool)
    dropped = [
        spot
        for spot, text, copy in zip(where, texts, copied, strict=True)
        if copy or text in constraints.lines[spot[0]]
    ]
    if dropped:
        rows, tokens = zip(*dropped, strict=True)
        mask[list(rows), list(tokens)] = False


def body_logits(model, sampled: Sampled, pad_id: int) -> torch.Tensor:
    """[poems, steps, V] float32 logits predicting each body token, teacher-forced.

    Left-padded with the decoder's position ids, so the model sees what it saw while sampling.
    """
    device = model.device
    count, steps = sampled.tokens.shape
    longest = max(len(p) for p in sampled.prompts)
    ids = torch.full((count, longest + steps - 1), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, prompt in enumerate(sampled.prompts):
        ids[b, longest - len(prompt) : longest] = torch.tensor(prompt)
        mask[b, longest - len(prompt) :] = 1
    ids[:, longest:] = sampled.tokens[:, :-1]
    ids, mask = ids.to(device), mask.to(device)
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position, logits_to_keep=steps)
    return out.logits.float()


def masked_logprobs(logits: torch.Tensor, replayed: Replayed) -> torch.Tensor:
    """[choices, V] log-softmax over each choice step's allowed tokens (−1e9-ish elsewhere)."""
    picked = logits[replayed.choice]
    return picked.masked_fill(~replayed.allowed, MASKED).log_softmax(-1)


def advantages(rewards: list[float]) -> torch.Tensor:
    """Rewards less the batch mean, over the batch's standard deviation."""
    values = torch.tensor(rewards, dtype=torch.float32)
    return (values - values.mean()) / (values.std(unbiased=False) + ADVANTAGE_EPS)


def policy_loss(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    replayed: Replayed,
    advantage: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, mean KL): −mean(A · Σ_t log π(a_t)) + kl_coef · mean_t KL(π ‖ π_ref).

    The KL is exact per choice step, over the allowed tokens, and averaged over all choice
    steps of the batch.
    """
    per_poem = poem_logprobs(logp, replayed, len(advantage))
    kl = (logp.exp() * (logp - ref_logp)).sum(-1).mean()
    loss = -(advantage.to(logp.device) * per_poem).mean() + kl_coef * kl
    return loss, kl


def poem_logprobs(logp: torch.Tensor, replayed: Replayed, poems: int) -> torch.Tensor:
    """[poems] Σ_t log π(a_t) over each poem's choice steps."""
    taken = logp.gather(1, replayed.actions[:, None])[:, 0]
    return torch.zeros(poems, device=logp.device).index_add(0, replayed.rows, taken)


def forced_kl(logits: torch.Tensor, ref_logits: torch.Tensor, replayed: Replayed) -> torch.Tensor:
    """Mean KL(π ‖ π_ref) over the whole vocabulary at the forced steps (marks, ``<eos>``).

    The reward never reaches these steps, yet every update moves the weights that predict
    them: unanchored, a tuned poet forgot where lines end (its test perplexity, which scores
    marks too, went from 53 to 10^11 in one run) while the constrained poems looked fine.
    """
    forced = ~replayed.choice
    if not bool(forced.any()):
        return logits.new_zeros(())
    logp = logits[forced].log_softmax(-1)
    ref_logp = ref_logits[forced].log_softmax(-1)
    return (logp.exp() * (logp - ref_logp)).sum(-1).mean()


def policy_step(
    policy,
    reference,
    optimizer: torch.optim.Optimizer,
    sampled: Sampled,
    replayed: Replayed,
    advantage: torch.Tensor,
    kl_coef: float,
    pad_id: int,
) -> tuple[float, float, float]:
    """One optimizer step on one batch; (loss, KL at choice steps, KL at forced steps) before it.

    Both KLs carry ``kl_coef``: the policy stays near the init where it chooses and where it
    is told.
    """
    with torch.no_grad():
        ref_logits = body_logits(reference, sampled, pad_id)
        ref_logp = masked_logprobs(ref_logits, replayed)
    logits = body_logits(policy, sampled, pad_id)
    logp = masked_logprobs(logits, replayed)
    loss, kl = policy_loss(logp, ref_logp, replayed, advantage, kl_coef)
    anchor = forced_kl(logits, ref_logits, replayed)
    loss = loss + kl_coef * anchor
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), GRAD_CLIP)
    optimizer.step()
    return loss.item(), kl.item(), anchor.item()


def update_discriminator(
    judge: Discriminator,
    optimizer: torch.optim.Optimizer,
    real: list[str],
    fake: list[str],
    steps: int,
) -> float:
    """``steps`` cross-entropy steps on real vs fake classifier texts; accuracy before them."""
    labels = torch.tensor([REAL] * len(real) + [1 - REAL] * len(fake))
    batch = judge.tokenizer(
        real + fake, add_special_tokens=False, padding=True, return_tensors="pt"
    ).to(judge.model.device)
    labels = labels.to(judge.model.device)
    accuracy = 0.0
    judge.model.train()
    for i in range(steps):
        logits = judge.model(**batch).logits.float()
        if i == 0:
            accuracy = (logits.argmax(-1) == labels).float().mean().item()
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(judge.model.parameters(), GRAD_CLIP)
        optimizer.step()
    judge.model.eval()
    return accuracy


def _title(record: dict) -> str:
    return clean_title(record.get("title") or "") or record["form"]


def train_adversarial(options: Options) -> dict:
    """Fine-tune, save the poet and its updated discriminator, return the run's record."""
    started = time.perf_counter()
    judge_dir = options.discriminator or options.init / DIR_NAME
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)

    tokenizer = load_tokenizer(options.init)
    policy = load_model(options.init).to(device).eval()  # eval: no dropout, log-probs exact
    reference = load_model(options.init).to(device).eval().requires_grad_(False)
    lines_path = options.init / LINES_FILE
    copies = LineSet.load(lines_path) if lines_path.is_file() else None
    generator = Generator(policy, tokenizer, model_version(options.init), copies)
    judge = load_discriminator(judge_dir, device=device)

    by_form = _trainable(read_records(options.corpus, "train"), policy.config.n_positions)
    forms = list(by_form)

    optimizer = torch.optim.AdamW(policy.parameters(), lr=options.learning_rate, weight_decay=0.0)
    d_optimizer = torch.optim.AdamW(judge.model.parameters(), lr=D_LEARNING_RATE)
    budget = options.max_minutes * 60 if options.max_minutes else None
    pad_id = tokenizer.pad_token_id
    log: list[dict] = []
    for step in range(1, options.steps + 1):
        form = forms[(step - 1) % len(forms)]
        titles = [_title(r) for r in rng.choices(by_form[form], k=options.batch_size)]
        sampled = sample(generator, titles, form, rng)
        entry: dict = {"step": step, "form": form, "poems": len(sampled.lines)}
        if sampled.lines:  # a step whose every row failed changes nothing
            entry.update(_learn(options, generator, reference, judge, optimizer, sampled, pad_id))
            if options.d_steps and step % options.d_every == 0:
                real = [
                    classifier_text([r["text"]], form)
                    for r in rng.choices(by_form[form], k=len(sampled.lines))
                ]
                fake = [classifier_text(lines, form) for lines in sampled.lines]
                entry["d_acc"] = update_discriminator(
                    judge, d_optimizer, real, fake, options.d_steps
                )
        entry["seconds"] = round(time.perf_counter() - started, 1)
        print(key_values(entry), flush=True)
        log.append(entry)
        if budget and time.perf_counter() - started >= budget:
            break

    last = next((e for e in reversed(log) if "reward" in e), {})
    tunes = set(read_info(options.init).get("tunes", []))
    test = read_records(options.corpus, "test")
    metrics = {
        f"test_ppl_{g}": v["ppl"] for g, v in perplexities(policy, tokenizer, test, tunes).items()
    }
    summary = {
        "init": str(options.init),
        "discriminator": str(judge_dir),
        "corpus": str(options.corpus),
        "steps": len(log),
        "batch_size": options.batch_size,
        "lr": options.learning_rate,
        "kl_coef": options.kl_coef,
        "d_every": options.d_every,
        "d_steps": options.d_steps,
        "d_lr": D_LEARNING_RATE,
        "seed": options.seed,
        "device": device,
        "final_reward": last.get("reward"),
        "final_kl": last.get("kl"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    _save(options, policy, tokenizer, judge, summary, metrics, log)
    return summary


def _trainable(records: list[dict], limit: int) -> dict[str, list[dict]]:
    """The training poems of each regular form the model can write whole within `limit`
    positions; raises UserError when there are none."""
    by_form = {
        form: of_form
        for form in REGULAR_FORMS
        if LONGEST_PROMPT + FORM_SHAPES[form][0] * (FORM_SHAPES[form][1] + 1) + 1 <= limit
        and (of_form := [r for r in records if r["form"] == form])
    }
    if not by_form:
        raise UserError(
            "语料中没有模型写得下的五绝、七绝、五律、七律 / no regular verse to train on"
        )
    return by_form


def _learn(
    options: Options, generator: Generator, reference, judge, optimizer, sampled, pad_id
) -> dict:
    """Reward the batch, take the policy step; the step's measurements."""
    replayed = replay(generator, sampled)
    realness = judge.realness(sampled.lines, [sampled.form] * len(sampled.lines))
    rewards = [math.log(max(p, MIN_REALNESS)) for p in realness]
    loss, kl, kl_forced = policy_step(
        generator.model,
        reference,
        optimizer,
        sampled,
        replayed,
        advantages(rewards),
        options.kl_coef,
        pad_id,
    )
    texts = ["".join(lines) for lines in sampled.lines]
    choices = int(replayed.choice.sum())
    return {
        "reward": sum(rewards) / len(rewards),
        "kl": kl,
        "kl_forced": kl_forced,
        "loss": loss,
        "logprob": sum(sampled.logprob) / choices,
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
    }


def _save(
    options: Options,
    policy,
    tokenizer,
    judge: Discriminator,
    summary: dict,
    metrics: dict,
    log: list[dict],
) -> None:
    """Publish the discriminator, then the poet, each from a staging dir file by file.

    The poet keeps the init's save dtype (fp16 for `small`) and copy filter; its
    ``yinshi.json`` is the init's with the tuned poet's own test perplexities (how far it
    drifted) and an ``adversarial`` section.
    """
    judge_out = options.out / DIR_NAME
    staging = judge_out / ".final"
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that crashed while saving
    staging.mkdir(parents=True)
    judge.model.to(getattr(torch, save_dtype(options.init))).save_pretrained(str(staging))
    judge.tokenizer.save_pretrained(str(staging))
    old_info = judge.path / INFO_FILE
    judge_info = artifacts.read_json(old_info) if old_info.is_file() else {}
    judge_info["adversarial"] = {
        "poet": str(options.out),
        "updates": sum("d_acc" in e for e in log) * options.d_steps,
        "lr": D_LEARNING_RATE,
        "last_acc": next((e["d_acc"] for e in reversed(log) if "d_acc" in e), None),
    }
    artifacts.write_json(staging / INFO_FILE, judge_info)
    artifacts.publish(staging, judge_out)

    staging = options.out / ".final"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    info = read_info(options.init)
    policy.to(getattr(torch, save_dtype(options.init))).save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    lines_path = options.init / LINES_FILE
    if lines_path.is_file():
        shutil.copyfile(lines_path, staging / LINES_FILE)
    record = {**info, "metrics": metrics, "adversarial": summary}
    artifacts.write_json(staging / "yinshi.json", record)
    final = {"final_reward": summary["final_reward"], "final_kl": summary["final_kl"]}
    artifacts.write_json(staging / "metrics.json", {**final, **metrics, "log_history": log})
    artifacts.publish(staging, options.out)
