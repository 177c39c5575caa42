"""The rules of each row's layout as one batched mask per decoding step.

Every layout is compiled into a per-step program (which token is forced, which line and
position a sampled character takes, whether it rhymes), so a step is a handful of tensor
operations over the whole batch, whatever mix of forms it holds:

- tones: per row, the tone strings of the current line still open (`alive`, a bit set over
  all 2^length strings; bit j of a string's index is 1 for 仄 at position j). A character
  may come next if one of its tones is the tone some open string wants here — a polyphone
  fits either — and choosing it closes the strings it contradicts. So 一三五不论, 孤平,
  三平尾 and the 词 tune's fixed tones hold by construction, as the analyser reads them;
- rhyme: per row and rhyme set, the rhyme groups still open; a rhyme position takes only a
  character in one of them, not used before in the poem, and narrows them to its own groups
  (weighted by how much real poets rhyme it in each: after 还, a poem goes on in 删 rather
  than in 先, where 还 rhymes only in a rare reading);
- everything else (marks, <eos>, 藏头 heads, the given first line) is forced, and a sampled
  position is never a control token, <unk>, punctuation or anything but one Han character.
When a line's last character completes a line of the training corpus or a line already in
the poem, `rejects` names the row so the decoder resamples that character.

On top of the exact 0/1 rules the mask carries weights — taste, never form: a weight only
scales a character the rules allow, and the decoder renormalises over what is left.
- usage (`VocabTables`): a polyphone's rare reading, a rare rhyme group of a character, and
  a character real poets seldom end a line with are made unlikely, not impossible;
- 重字: a character already in the poem is down-weighted by `Taste.repeat` per earlier use,
  except the second half of a 叠字 (萧萧), which reads as one word — as far as the
  `Lexicon`'s doubling weight says real poets double that character;
- topic: the title's partners in the `Lexicon` are up-weighted by exp(`Taste.topic`·score);
- 对仗: in a couplet of `Layout.couplets`, each character of the second line leans towards
  the partners of the character above it, by exp(`Taste.pair`·score).
`PLAIN` turns all of them off: the poet as it was before they existed, for comparisons.
"""

from dataclasses import dataclass, field
from functools import cache

import torch

from yinshi.prosody.rules import ZE

from .copies import LineSet
from .lexicon import Lexicon
from .plan import Layout
from .vocab import VocabTables


@dataclass(frozen=True)
class Taste:
    """The weights of taste (see the module docstring); the defaults are the measured choice."""

    repeat: float = 0.03
    """Probability factor per earlier use of a character. Real 近体 poems repeat about 0.7
    characters per poem; unpenalised, the poet repeated 4 (a fault critics name: 重字)."""
    topic: float = 0.6
    """β: exp(β·score) for the title's partners (scores ≤ `lexicon.MAX_SCORE`)."""
    pair: float = 0.5
    """γ: exp(γ·score) for the partners of the aligned character in a 对仗 couplet."""
    usage: bool = True
    """Weigh readings, rhyme groups and line ends by the corpus (`VocabTables`)."""


TASTE = Taste()
"""What the engine uses."""
PLAIN = Taste(repeat=1.0, topic=0.0, pair=0.0, usage=False)


@dataclass
class Rejected:
    row: int
    reason: str
    """"copy" (a training line) or "repeat" (a line earlier in this poem)."""


def variant_bits(variant: str) -> int:
    """The index of a tone string in the bit-set encoding: bit j set for 仄 at position j."""
    return sum(1 << j for j, tone in enumerate(variant) if tone == ZE)


def render(layout: Layout, tokens: list[int], tables: VocabTables) -> list[str]:
    """The lines a row's body tokens spell, each with its mark; forced text as it was given."""
    lines, t = [], 0
    for spec in layout.lines:
        if t >= len(tokens) or tokens[t] == tables.eos_id:
            break
        body = tokens[t : t + spec.length]
        chars = spec.fixed + "".join(tables.chars[i] for i in body[len(spec.fixed) :])
        lines.append(chars + spec.mark)
        t += spec.length + 1
    return lines


class Constraints:
    """The compiled programs and running state of a batch of layouts (one scheme)."""

    def __init__(
        self,
        tables: VocabTables,
        layouts: list[Layout],
        copies: LineSet | None,
        unk_id: int,
        lexicon: Lexicon | None = None,
        taste: Taste = TASTE,
    ) -> None:
        self.tables = tables
        self.lexicon = lexicon
        self.taste = taste
        self.layouts = layouts
        self.copies = copies
        device = tables.han.device
        lengths = [s.length for layout in layouts for s in layout.lines if s.variants]
        self.bits = max(lengths, default=1)
        programs = [_program(layout, tables, unk_id) for layout in layouts]
        width = max(len(p.forced) for p in programs)
        self.forced = _stack([p.forced for p in programs], width, tables.eos_id)
        """[rows, steps]: the token forced at each step, -1 where one is sampled."""
        self.line = _stack([p.line for p in programs], width, 0)
        self.pos = _stack([p.pos for p in programs], width, 0)
        self.rhyme = _stack([p.rhyme for p in programs], width, -1)
        """[rows, steps]: the rhyme set of a rhyming character, -1 elsewhere."""
        self.pair = _stack([p.pair for p in programs], width, -1)
        """[rows, steps]: the step of the character above in a 对仗 couplet, -1 elsewhere."""
        self.end = _stack([p.end for p in programs], width, False).bool()
        """[rows, steps]: a line's last character."""
        self.start = _stack([p.start for p in programs], width, False).bool()
        self.stop = _stack([p.stop for p in programs], width, False).bool()
        """[rows, steps]: <eos> may come here instead of the next line (`free`)."""
        self.line_ends = [p.ends for p in programs]
        """Per row: step of a line's last character → (line index, step of its first)."""
        self.end_steps = {t for p in programs for t in p.ends}
        self.check_steps = {t for p in programs for t in p.checked}
        """Steps at which some row samples the last character of a line."""

        self.member_w = tables.member_weight if taste.usage else tables.member.float()
        """[G, V] how much each character rhymes in each group (0: not at all)."""
        rows, n_lines = len(layouts), max(len(x.lines) for x in layouts)
        n_sets = max((len(x.groups) for x in layouts), default=0)
        variants = torch.zeros((rows, n_lines, 1 << self.bits), dtype=torch.bool)
        groups = torch.zeros((rows, max(n_sets, 1), len(tables.groups)))
        used = torch.zeros((rows, len(tables.chars)), dtype=torch.bool)
        for b, layout in enumerate(layouts):
            for i, spec in enumerate(layout.lines):
                if spec.variants:
                    variants[b, i, _bit_indices(spec.variants)] = True
            for k, open_groups in enumerate(layout.groups):
                groups[b, k, sorted(open_groups)] = 1.0
            given = layout.lines[0].rhyme  # `used` is the given first line's rhyme, if any
            for char in layout.used:
                if given is not None and char in tables.ids:  # weighs groups like a sampled one
                    groups[b, given] *= self.member_w[:, tables.ids[char]].cpu()
            used[b, [tables.ids[c] for c in layout.used if c in tables.ids]] = True
        self.variants = variants.to(device)
        """[rows, lines, 2^bits]: the tone strings each line may take."""
        self.tones_on = torch.tensor(
            [any(s.variants for s in x.lines) for x in layouts], device=device
        )
        self.groups, self.used = groups.to(device), used.to(device)
        """[rows, sets, G] rhyme groups still open (> 0), weighted by the usage of the rhymes so
        far; [rows, V] rhyme characters taken."""
        self.alive = self.variants[:, 0].clone()
        """[rows, 2^bits]: the current line's tone strings still open."""
        strings = torch.arange(1 << self.bits)
        self.tone_bit = (
            ((strings[None, :] >> torch.arange(self.bits)[:, None]) & 1).bool().to(device)
        )
        """[bits, 2^bits]: is position j of string s 仄."""
        nothing = torch.zeros_like(tables.ping_weight)
        ping, ze = tables.ping_weight, tables.ze_weight
        if not taste.usage:
            ping, ze = tables.ping.float(), tables.ze.float()
        either = torch.maximum(ping, ze)
        self.masks = torch.stack([nothing, ping, ze, either, tables.han.float()])
        """[5, V] > 0 where allowed, with the reading's usage weight: nothing, 平, 仄, either
        tone, any Han character. Gathering whole rows of this is several times cheaper than
        masking [rows, V] element by element."""
        self.end_w = tables.end_weight if taste.usage else None
        width_v = len(tables.chars)
        self.repeat = torch.ones((rows, width_v), device=device)
        """[rows, V]: `Taste.repeat` ** (earlier uses) of each character."""
        self.taken = torch.zeros((rows, width), dtype=torch.long, device=device)
        """[rows, steps]: every row's tokens so far (for 叠字 and 对仗)."""
        self.prefer = None
        """[rows, V] exp(β·topic score), or None without a lexicon."""
        if self.lexicon is not None and taste.topic:
            titles = [[tables.ids[c] for c in x.title if c in tables.ids] for x in layouts]
            self.prefer = self.lexicon.topic(titles, width_v).mul_(taste.topic).exp_()
        self.rows = torch.arange(rows)
        """The original index of each row still decoding (rows leave as they finish)."""
        self.lines: list[list[str]] = [[] for _ in layouts]
        """Per original row: the lines finished so far, without marks (for repeats)."""

    def keep(self, keep: torch.Tensor) -> None:
        """Drop the rows not in `keep` (indices into the current rows)."""
        self.rows = self.rows[keep]
        self._reorder(keep)

    def follow(self, order: torch.Tensor, pairs: list[tuple[int, int]]) -> None:
        """Current row b goes on as a copy of current row ``order[b]``; ``pairs`` (source, row)
        in original rows, for each row that changes: it takes its source's layout too."""
        self._reorder(order)
        for source, row in pairs:
            for name in ("forced", "line", "pos", "rhyme", "pair", "end", "start", "stop"):
                getattr(self, name)[row] = getattr(self, name)[source]
            self.line_ends[row] = self.line_ends[source]
            self.layouts[row] = self.layouts[source]
            self.lines[row] = list(self.lines[source])

    def _reorder(self, order: torch.Tensor) -> None:
        """Index the running state, one entry per current row, by ``order``."""
        on_device = order.to(self.alive.device)
        for name in ("variants", "tones_on", "groups", "used", "alive", "repeat", "taken"):
            setattr(self, name, getattr(self, name)[on_device])
        if self.prefer is not None:
            self.prefer = self.prefer[on_device]

    def regroup_steps(self, row: int, every: float) -> frozenset[int]:
        """Where ``row``'s family regroups (`decode.Regroup`): after the mark of every
        ``every``-th line, the last line excepted; with ``every`` below 1, after every line and
        at every line's caesura too (after a 五言 line's second character, a 七言 line's
        fourth: a line's last three characters are its second half)."""
        ends = sorted(self.line_ends[row].items())  # (step of last character, (line, first))
        lines = max(1, int(every))
        found = {step + 1 for step, (line, _) in ends[:-1] if (line + 1) % lines == 0}
        if every < 1:
            found |= {step - 3 for step, (_, first) in ends if step - 3 > first}
        return frozenset(found)

    def forced_at(self, t: int) -> torch.Tensor:
        """[rows] the token forced at step t, or -1 where it is sampled."""
        return self.forced[self.rows, t]

    def allowed(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """[rows, V] float, 1.0 where a token may come at step t; [rows] bool, where none may.

        Rows whose token is forced at t get a mask too; the caller ignores it.
        """
        device = self.alive.device
        here = self.rows
        bits = self.tone_bit[self.pos[here, t].clamp(max=self.bits - 1).to(device)]  # [rows, S]
        can_ping = (self.alive & ~bits).any(-1)
        can_ze = (self.alive & bits).any(-1)
        kind = torch.where(self.tones_on, can_ping.long() + 2 * can_ze.long(), 4)  # [rows]
        mask = torch.index_select(self.masks, 0, kind)  # [rows, V]; faster than masks[kind]
        dead = kind == 0
        rhyme = self.rhyme[here, t]
        rhyming = (rhyme >= 0).nonzero().flatten()
        if len(rhyming):
            sets = rhyme[rhyming].to(device)
            rhyming = rhyming.to(device)
            in_group = (self.groups[rhyming, sets] @ self.member_w).clamp_(max=1.0)
            fits = in_group * ~self.used[rhyming] * mask[rhyming]  # [r, V]
            mask[rhyming] = fits
            dead[rhyming] |= ~(fits > 0).any(-1)
        ending = self.end[here, t].nonzero().flatten().to(device)
        if len(ending) and self.end_w is not None:
            mask[ending] *= self.end_w
        stopping = self.stop[here, t].nonzero().flatten().to(device)
        if len(stopping):
            mask[stopping, self.tables.eos_id] = 1.0
        return mask * self._taste(t), dead

    def _taste(self, t: int) -> torch.Tensor:
        """[rows, V] the weights of taste at step t: 重字, 叠字, topic, 对仗."""
        device = self.alive.device
        here = self.rows
        weights = self.repeat.clone()
        inside = (self.pos[here, t] > 0).to(device)  # the previous step is in this line
        if t > 0 and bool(inside.any()):
            # a 叠字's second half: the character just written, once in the poem, not thrice
            previous = self.taken[:, t - 1]
            before = self.taken[:, t - 2] if t > 1 else torch.full_like(previous, -1)
            doubling = inside & (before != previous)
            index = torch.arange(len(here), device=device)[doubling]
            twin = previous[doubling]
            once = weights[index, twin] >= self.taste.repeat
            index, twin = index[once], twin[once]
            spared = self.lexicon.doubling[twin] if self.lexicon is not None else 1.0
            weights[index, twin] = torch.maximum(weights[index, twin], torch.as_tensor(spared))
        if self.prefer is not None:
            weights *= self.prefer
        if self.lexicon is not None and self.taste.pair:
            above = self.pair[here, t].to(device)
            pairing = (above >= 0).nonzero().flatten()
            if len(pairing):
                source = self.taken[pairing, above[pairing]]
                scores = self.lexicon.pair(source, weights.shape[1])
                weights[pairing] *= scores.mul_(self.taste.pair).exp_()
        return weights

    def advance(self, t: int, tokens: torch.Tensor) -> None:
        """Narrow each row's open tone strings and rhyme groups by the tokens taken at step t."""
        device = self.alive.device
        tables = self.tables
        here = self.rows
        sampled = (self.forced[here, t] < 0).to(device)
        bits = self.tone_bit[self.pos[here, t].clamp(max=self.bits - 1).to(device)]
        fits = torch.where(bits, tables.ze[tokens][:, None], tables.ping[tokens][:, None])
        narrow = sampled & self.tones_on
        self.alive = torch.where(narrow[:, None], self.alive & fits, self.alive)
        rhyme = self.rhyme[here, t]
        rhyming = ((rhyme >= 0) & (self.forced[here, t] < 0)).nonzero().flatten()
        if len(rhyming):
            sets = rhyme[rhyming].to(device)
            rhyming = rhyming.to(device)
            taken = tokens[rhyming]
            weights = self.groups[rhyming, sets] * self.member_w[:, taken].T  # [r, G]
            # relative to the best open group, so weights do not dwindle rhyme by rhyme
            self.groups[rhyming, sets] = weights / weights.amax(-1, keepdim=True).clamp(min=1e-9)
            self.used[rhyming, taken] = True
        self.taken[:, t] = tokens
        self.repeat[torch.arange(len(here), device=device), tokens] *= self.taste.repeat
        if t + 1 < self.start.shape[1]:
            starting = self.start[here, t + 1].to(device)
            line = self.line[here, t + 1].to(device)
            fresh = self.variants[torch.arange(len(here), device=device), line]
            self.alive = torch.where(starting[:, None], fresh, self.alive)

    def rejects(self, t: int, tokens: list[int], history: torch.Tensor) -> list[Rejected]:
        """Rows whose line, completed at step t by a sampled character, is a copy or a repeat.

        `tokens`: this step's tokens per current row; `history`: [all rows, steps] so far.
        """
        found: list[Rejected] = []
        if t not in self.check_steps:
            return found
        for b, row in enumerate(self.rows.tolist()):
            end = self.line_ends[row].get(t)
            if end is None or self.forced[row, t] >= 0:
                continue
            text = self._line(row, end, t, tokens[b], history)
            if self.copies is not None and text in self.copies:
                found.append(Rejected(b, "copy"))
            elif text in self.lines[row]:
                found.append(Rejected(b, "repeat"))
        return found

    def finish_lines(self, t: int, tokens: list[int], history: torch.Tensor) -> None:
        """Remember the lines completed at step t, once their last characters are final."""
        if t not in self.end_steps:
            return
        for b, row in enumerate(self.rows.tolist()):
            end = self.line_ends[row].get(t)
            if end is not None:
                self.lines[row].append(self._line(row, end, t, tokens[b], history))

    def _line(self, row: int, end: tuple[int, int], t: int, last: int, history) -> str:
        i, first = end
        spec = self.layouts[row].lines[i]
        ids = [*history[row, first:t].tolist(), last]
        return spec.fixed + "".join(self.tables.chars[x] for x in ids[len(spec.fixed) :])


@dataclass
class _Program:
    """One layout, step by step."""

    forced: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    rhyme: list[int] = field(default_factory=list)
    pair: list[int] = field(default_factory=list)
    end: list[bool] = field(default_factory=list)
    start: list[bool] = field(default_factory=list)
    stop: list[bool] = field(default_factory=list)
    ends: dict[int, tuple[int, int]] = field(default_factory=dict)
    checked: list[int] = field(default_factory=list)

    def step(
        self,
        forced: int,
        line: int,
        pos: int,
        rhyme: int | None = None,
        stop: bool = False,
        pair: int = -1,
        end: bool = False,
    ) -> None:
        self.forced.append(forced)
        self.line.append(line)
        self.pos.append(pos)
        self.rhyme.append(-1 if rhyme is None else rhyme)
        self.pair.append(pair)
        self.end.append(end)
        self.start.append(pos == 0)
        self.stop.append(stop)


def _program(layout: Layout, tables: VocabTables, unk_id: int) -> _Program:
    program = _Program()
    mark_default = tables.ids.get("。", unk_id)
    below = {second: first for first, second in layout.couplets}
    starts: list[int] = []
    for i, spec in enumerate(layout.lines):
        first = len(program.forced)
        starts.append(first)
        stop = i - 1 in layout.stops
        above = starts[below[i]] if i in below else None
        for j in range(spec.length):
            forced = tables.ids.get(spec.fixed[j], unk_id) if j < len(spec.fixed) else -1
            last = j == spec.length - 1
            pair = above + j if above is not None else -1
            rhyme = spec.rhyme if last else None
            program.step(forced, i, j, rhyme, stop and j == 0, pair, last)
        program.ends[len(program.forced) - 1] = (i, first)
        if len(spec.fixed) < spec.length:
            program.checked.append(len(program.forced) - 1)
        program.step(tables.ids.get(spec.mark, mark_default), i, spec.length)
    program.step(tables.eos_id, len(layout.lines) - 1, -1)
    return program


def _stack(rows: list[list], width: int, pad) -> torch.Tensor:
    return torch.tensor([row + [pad] * (width - len(row)) for row in rows])


@cache
def _bit_indices(variants: frozenset[str]) -> list[int]:
    return sorted(variant_bits(v) for v in variants)
