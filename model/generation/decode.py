"""The lean batched sampling loop: one forward per step over a KV cache, constraints as masks.

Measured against stock `model.generate` (bench/generate.py): per step the stock loop runs its
logits processors and stopping criteria and sorts the whole vocabulary for top-p, which on a
CPU costs about as much as a small model's forward pass. This loop keeps a `DynamicCache`,
feeds one token per row per step, samples top-p within the top `TOP_K` tokens, and drops rows
from the batch (and the cache) as they finish, so a batch of mixed forms does not carry
finished 五绝 along while a 七律 is still being written.

Masking multiplies probabilities by a 0/1 mask instead of adding -inf to logits: `exp` of
-inf (or any huge negative) leaves the vectorised fast path, and that alone made a masked
softmax ten times slower than an unmasked one.

Each row samples with its own generator, seeded per row, so a seeded request gets the same
poem whatever else shares its batch (up to float rounding across batch shapes).
"""

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from .constraints import Constraints

TOP_K = 64
"""Top-p is taken within the K most likely allowed tokens: a full sort of the vocabulary per
row per step costs as much as the model's forward pass on CPU, and a nucleus wider than this
only happens where the model has no opinion anyway."""
MAX_RESAMPLES = 8
"""Tries to replace a line's last character when the line is a copy or a repeat."""
FLOOR = -80.0
"""Log-weights relative to the best allowed token are floored here (exp(-80) is negligible):
it keeps `exp` on its fast path. Taking the peak over the allowed tokens, not the whole
vocabulary, is the back-off for a mask that leaves no probable character: the allowed ones
are renormalised among themselves, however little mass the model gave them."""


@dataclass(frozen=True)
class Row:
    prompt: list[int]
    steps: int
    """Body tokens to produce (<eos> included): the most this row can take."""
    temperature: float
    top_p: float
    seed: int


@dataclass
class Decoded:
    tokens: list[int] = field(default_factory=list)
    logprob: float = 0.0
    """Sum of the model's (unmasked, temperature 1) log-probabilities of the sampled tokens."""
    sampled: int = 0
    masked: float = 0.0
    """Sum over sampled tokens of -log P(allowed set) under the model (temperature 1)."""
    taste: float = 0.0
    """Sum over sampled tokens of the log of the weight the constraints gave them (taste)."""
    pooled: torch.Tensor | None = None
    """[hidden] the mean output of block `pool_layer` over the body tokens fed (all but
    <eos>): what the critic reads, computed here for free instead of in a second forward."""
    failed: str | None = None
    """"dead_end" (no token allowed) or "no_fresh_line" (every last character made a copy)."""
    resampled: int = 0
    copies: int = 0
    repeats: int = 0


@dataclass(frozen=True)
class Regroup:
    """Sibling rows — the candidates of one poem — that at set steps all go on from the best
    of them so far.

    Ranking only whole poems chooses once, among as many as were written; ranking the
    candidates at set steps (a couplet's end, a line's, a caesura) and letting all of them
    continue from the best chooses again at each: the critic picks among four first half
    lines, then among four second halves after the best first, and so on — for the same
    decoding cost. Every row keeps its own random draws, so siblings part again at once.
    """

    family: Sequence[int]
    """Per row: its family, or -1 for a row that never regroups. A family's rows share a
    form, hence the steps of its line ends."""
    steps: Sequence[frozenset[int]]
    """Per row: the steps after whose token its family regroups."""
    rank: Callable[[Sequence[Decoded], torch.Tensor | None], list[float]]
    """Scores of unfinished rows, higher better, from what they sampled so far and their
    pooled states (None when nothing is pooled)."""


def decode(
    model,
    rows: Sequence[Row],
    constraints: Constraints | None = None,
    pad_id: int = 0,
    top_k: int = TOP_K,
    pool_layer: int | None = None,
    regroup: Regroup | None = None,
) -> list[Decoded]:
    """Sample every row; without `constraints`, free sampling for each row's `steps` (benchmark).

    ``pool_layer`` (1-based block of a GPT-2): also pool each row's states there (`pooled`).
    ``regroup`` (needs ``constraints``): families of rows that continue from their best at
    their steps; a row may then end with a sibling's layout (``constraints.layouts``).
    """
    device = model.device
    pool = _Pool(model, pool_layer, len(rows)) if pool_layer else None
    count, width = len(rows), max(r.steps for r in rows)
    generators = [torch.Generator().manual_seed(r.seed) for r in rows]
    draws = torch.stack([torch.rand(width, generator=g) for g in generators]).to(device)
    temperature = torch.tensor([r.temperature for r in rows], device=device)[:, None]
    top_p = torch.tensor([r.top_p for r in rows], device=device)[:, None]
    steps = torch.tensor([r.steps for r in rows])
    history = torch.full((count, width), pad_id, dtype=torch.long)  # [rows, steps], on CPU
    results = [Decoded() for _ in rows]

    ids, mask, position = _left_padded(rows, pad_id, width, device)
    longest = ids.shape[1]
    cache = DynamicCache()
    here = torch.arange(count)  # original index of each row still decoding
    regrouping = frozenset().union(*regroup.steps) if regroup and constraints else frozenset()
    with torch.inference_mode(), pool or nullcontext():
        out = model(
            input_ids=ids,
            attention_mask=mask[:, :longest],
            position_ids=position,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        position = position[:, -1:]
        for t in range(width):
            logits = out.logits[:, -1].float()  # [rows, V]
            rows_now = here.tolist()
            forced = constraints.forced_at(t).to(device) if constraints else None
            chosen = torch.ones(len(rows_now), dtype=torch.bool, device=device)
            if forced is not None:
                chosen = forced < 0
            if bool(chosen.any()):
                scaled = logits / temperature
                allowed = None
                if constraints is not None:
                    allowed, dead = constraints.allowed(t)
                    for b in (dead & chosen).nonzero().flatten().tolist():
                        results[rows_now[b]].failed = "dead_end"
                tokens = _sample(scaled, allowed, top_p, draws[here.to(device), t], top_k)
                total = logits.logsumexp(-1, keepdim=True)
                kept = _kept_mass(logits - total, allowed)  # before resampling edits `allowed`
                if constraints is not None:
                    tokens = torch.where(chosen, tokens, forced)
                    redo = _Redo(scaled, allowed, top_p, top_k, generators, results, rows_now)
                    tokens = redo.fresh_lines(constraints, t, tokens, history)
                raw = logits.gather(1, tokens[:, None])[:, 0] - total[:, 0]
                weight = _weight_of(allowed, tokens)
                _count_sampled(results, rows_now, chosen, raw, kept, weight)
            else:
                tokens = forced
            token_list = tokens.tolist()
            history[here, t] = torch.tensor(token_list)
            ended = steps[here] == t + 1
            if constraints is not None:
                constraints.advance(t, tokens)
                constraints.finish_lines(t, token_list, history)
                stopped = torch.tensor(token_list) == constraints.tables.eos_id
                ended |= stopped & constraints.stop[here, t]
                ended |= torch.tensor([results[r].failed is not None for r in rows_now])
            for b in ended.nonzero().flatten().tolist():
                results[rows_now[b]].tokens = history[rows_now[b], : t + 1].tolist()
                if pool is not None:
                    results[rows_now[b]].pooled = pool.mean(rows_now[b])
            if bool(ended.all()):
                break
            if bool(ended.any()):
                keep = (~ended).nonzero().flatten()
                here = here[keep]
                on_device = keep.to(device)
                cache.batch_select_indices(on_device)
                mask, tokens, position = mask[on_device], tokens[on_device], position[on_device]
                temperature, top_p = temperature[on_device], top_p[on_device]
                if constraints is not None:
                    constraints.keep(keep)
            position = position + 1
            out = model(
                input_ids=tokens[:, None],
                attention_mask=mask[:, : longest + t + 1],
                position_ids=position,
                cache=cache,
                use_cache=True,
            )
            if pool is not None:
                pool.add(here)
            if t in regrouping:
                order = _best_of_families(regroup, t, here, results, pool)
                if order is not None:
                    _follow(order, here, history, results, pool, constraints)
                    on_device = order.to(device)
                    cache.batch_select_indices(on_device)
                    out.logits = out.logits[on_device]
                    mask, position = mask[on_device], position[on_device]
                    temperature, top_p = temperature[on_device], top_p[on_device]
    return results


def _best_of_families(
    regroup: Regroup, t: int, here: torch.Tensor, results: list[Decoded], pool: "_Pool | None"
) -> torch.Tensor | None:
    """[rows] for each current row, the current row it continues from (itself, or the best
    of its family where the family regroups after step t); None where nothing changes."""
    rows_now = here.tolist()
    families: dict[int, list[int]] = {}
    for b, row in enumerate(rows_now):
        if regroup.family[row] >= 0 and t in regroup.steps[row]:
            families.setdefault(regroup.family[row], []).append(b)
    families = {f: members for f, members in families.items() if len(members) > 1}
    if not families:
        return None
    ranked = [b for members in families.values() for b in members]
    pooled = None
    if pool is not None:
        pooled = torch.stack([pool.mean(rows_now[b]) for b in ranked])
    scores = regroup.rank([results[rows_now[b]] for b in ranked], pooled)
    values = dict(zip(ranked, scores, strict=True))
    order = torch.arange(len(rows_now))
    for members in families.values():
        order[members] = max(members, key=values.__getitem__)
    return order


def _follow(order, here, history, results, pool, constraints: Constraints) -> None:
    """Make each current row b a copy of row ``order[b]``: what it wrote, what it scored, its
    pooled states and its constraints (the caller reorders the cache and the per-row
    tensors). What each row counted of its own resampling stays its own."""
    rows_now = here.tolist()
    pairs = [(rows_now[s], rows_now[b]) for b, s in enumerate(order.tolist()) if s != b]
    for source, row in pairs:
        history[row] = history[source]
        mine, theirs = results[row], results[source]
        mine.logprob, mine.sampled = theirs.logprob, theirs.sampled
        mine.masked, mine.taste = theirs.masked, theirs.taste
        if pool is not None:
            pool.sums[row], pool.counts[row] = pool.sums[source], pool.counts[source]
    constraints.follow(order, pairs)


def _left_padded(rows: Sequence[Row], pad_id: int, width: int, device):
    """The prompts as one left-padded batch: ids [rows, longest], an attention mask with room
    for `width` more steps, and positions that start at 0 after each row's padding."""
    longest = max(len(r.prompt) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest + width), dtype=torch.long)  # left padding is 0
    for b, row in enumerate(rows):
        ids[b, longest - len(row.prompt) :] = torch.tensor(row.prompt)
        mask[b, longest - len(row.prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    position = (mask[:, :longest].cumsum(-1) - 1).clamp(min=0)
    return ids, mask, position


def _count_sampled(results, rows_now, chosen, raw, kept, weight) -> None:
    """Add each sampled (not forced) token's log-probability, mask loss and taste to its row."""
    picked = chosen.nonzero().flatten().tolist()
    values = zip(
        picked, raw[chosen].tolist(), kept[chosen].tolist(), weight[chosen].tolist(), strict=True
    )
    for b, value, mass, liked in values:
        result = results[rows_now[b]]
        result.logprob += value
        result.masked -= mass
        result.taste += liked
        result.sampled += 1


class _Pool:
    """Sums one block's output over the tokens each row is fed after its prompt."""

    def __init__(self, model, layer: int, rows: int) -> None:
        self.sums = torch.zeros(rows, model.config.n_embd)
        self.counts = torch.zeros(rows)
        self.last: torch.Tensor | None = None
        block = model.transformer.h[layer - 1]
        self.hook = block.register_forward_hook(self._keep)

    def _keep(self, module, args, output) -> None:
        states = output[0] if isinstance(output, tuple) else output
        self.last = states[:, -1].float().cpu()  # [rows, hidden]: the token just fed

    def add(self, here: torch.Tensor) -> None:
        self.sums[here] += self.last
        self.counts[here] += 1

    def mean(self, row: int) -> torch.Tensor:
        return self.sums[row] / self.counts[row].clamp(min=1)

    def __enter__(self) -> "_Pool":
        return self

    def __exit__(self, *_) -> None:
        self.hook.remove()  # the model goes on without it, whatever happened


def _kept_mass(logprobs: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """[rows] log P(allowed set) under the model: 0 without constraints."""
    if allowed is None:
        return torch.zeros(logprobs.shape[0], device=logprobs.device)
    return (logprobs.exp() * (allowed > 0)).sum(-1).clamp_(min=1e-30).log_()


def _weight_of(allowed: torch.Tensor | None, tokens: torch.Tensor) -> torch.Tensor:
    """[rows] log of the mask's weight of each row's token: 0 without constraints."""
    if allowed is None:
        return torch.zeros(tokens.shape[0], device=tokens.device)
    return allowed.gather(1, tokens[:, None])[:, 0].clamp(min=1e-30).log()


def _sample(
    scaled: torch.Tensor,
    allowed: torch.Tensor | None,
    top_p: torch.Tensor,
    uniform: torch.Tensor,
    top_k: int,
) -> torch.Tensor:
    """Nucleus sampling within the top k, by inverse CDF with one given uniform per row.

    scaled: [rows, V] logits / temperature; allowed: [rows, V] weights (0 where a token may not
    come; the constraints' taste scales the others) or None; returns [rows] ids.
    """
    if allowed is None:
        peak = scaled.amax(-1, keepdim=True)
    else:  # the best allowed token's: lifting the allowed by 1e4 puts them above every other
        peak = scaled.add((allowed > 0).float(), alpha=1e4).amax(-1, keepdim=True) - 1e4
    weights = (scaled - peak).clamp_(FLOOR, 0.0).exp_()  # [rows, V], 1 at the peak
    if allowed is not None:
        weights *= allowed
    total = weights.sum(-1, keepdim=True)
    values, indices = weights.topk(min(top_k, weights.shape[-1]), dim=-1)  # [rows, k]
    probs = values / total
    cumulative = probs.cumsum(-1)
    probs = probs * ((cumulative - probs) < top_p)  # the most likely token always stays
    cumulative = probs.cumsum(-1)
    target = uniform[:, None] * cumulative[:, -1:]
    choice = torch.searchsorted(cumulative, target).clamp(max=probs.shape[-1] - 1)
    return indices.gather(1, choice)[:, 0]


@dataclass
class _Redo:
    """What it takes to resample one row's token at the current step."""

    scaled: torch.Tensor
    allowed: torch.Tensor
    top_p: torch.Tensor
    top_k: int
    generators: list[torch.Generator]
    results: list[Decoded]
    rows: list[int]

    def fresh_lines(self, constraints: Constraints, t: int, tokens, history) -> torch.Tensor:
        """Resample the last character of each line that copies the corpus or repeats the poem."""
        for _ in range(MAX_RESAMPLES):
            rejected = constraints.rejects(t, tokens.tolist(), history)
            if not rejected:
                return tokens
            for item in rejected:
                b = item.row
                result = self.results[self.rows[b]]
                result.copies += item.reason == "copy"
                result.repeats += item.reason == "repeat"
                self.allowed[b, tokens[b]] = 0.0
                if not bool(self.allowed[b].any()):
                    result.failed = "no_fresh_line"
                    continue
                uniform = torch.rand(1, generator=self.generators[self.rows[b]])
                uniform = uniform.to(self.scaled.device)
                one = slice(b, b + 1)
                sample = _sample(
                    self.scaled[one], self.allowed[one], self.top_p[one], uniform, self.top_k
                )
                tokens[b] = sample[0]
                result.resampled += 1
        for item in constraints.rejects(t, tokens.tolist(), history):
            self.results[self.rows[item.row]].failed = "no_fresh_line"
        return tokens
