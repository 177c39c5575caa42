"""What every token of the model's vocabulary is to the 格律 rules, as tensors.

Masks are built position by position for a whole batch, so the per-character facts (is it a
Han character, can it be read 平, can it be read 仄, which rhyme groups can it rhyme in) are
looked up once per (tokenizer, scheme) and kept as boolean tensors over the vocabulary. A
polyphone is both 平 and 仄 and sits in every group of every reading, like the analyser reads it.

Beside the exact 0/1 facts, float weights in [0, 1] say how real poets use each character
(`yinshi.prosody.usage`): how acceptable a polyphone's rarer reading is, which rhyme group a
character really rhymes in, how natural it is at a line end. The decoder multiplies them into
its masks; a weight is 0 exactly where the boolean fact is False, so the mask stays exact and
the weights only scale. Without usage data every weight is 1.0 where the fact holds.
"""

from dataclasses import dataclass

import torch

from yinshi.prosody import get_scheme
from yinshi.prosody.rules import PING, ZE
from yinshi.prosody.text import is_cjk
from yinshi.prosody.usage import NO_USAGE, Usage, load_usage

_TENSORS = (
    "han",
    "ping",
    "ze",
    "member",
    "ping_weight",
    "ze_weight",
    "member_weight",
    "end_weight",
)


@dataclass(frozen=True)
class VocabTables:
    chars: tuple[str, ...]
    """Token id → its character; "" for control tokens and anything that is not one character."""
    ids: dict[str, int]
    """Character (Han or punctuation) → token id, for the one-character tokens there are."""
    han: torch.Tensor
    """[V] bool: one Han character. Never a control token, <unk> or punctuation."""
    ping: torch.Tensor
    """[V] bool: a Han character with a 平 reading in the scheme."""
    ze: torch.Tensor
    """[V] bool: a Han character with a 仄 reading."""
    groups: tuple[tuple[str, str], ...]
    """[G] rhyme groups as (kind, id): ("shi", 平声 group of 近体) then ("ci", 词 rhyme class)."""
    member: torch.Tensor
    """[G, V] bool: the token can rhyme in the group (shi: by a 平 reading; ci: any reading)."""
    group_index: dict[tuple[str, str], int]
    counts: dict[tuple[int, str | None], int]
    """(group, tone or None) → how many characters can rhyme there (with that tone)."""
    eos_id: int
    ping_weight: torch.Tensor
    """[V] float: at a position whose tone must be 平, how acceptable the token's 平 reading is
    relative to its more used one; 1.0 for one-tone characters and characters without data,
    0 where there is no 平 reading (exactly where `ping` is False)."""
    ze_weight: torch.Tensor
    """[V] float: the same for 仄."""
    member_weight: torch.Tensor
    """[G, V] float: for shi groups, how much the corpus rhymes the token in that group
    relative to its most used group; 1.0 for ci groups, one-group characters and characters
    without data; 0 exactly where `member` is False."""
    end_weight: torch.Tensor
    """[V] float in (0, 1]: how natural the token is as the last character of a 句 (不 而 亦
    and the first halves of binomes like 惆 get little, 花 风 get 1), from shi and 词 pooled;
    1.0 for every token that is not a Han character or has no data."""

    def usable(self, group: int, tone: str | None = None) -> int:
        return self.counts[group, tone]

    def to(self, device: str | torch.device) -> "VocabTables":
        tensors = {name: getattr(self, name).to(device) for name in _TENSORS}
        return VocabTables(**{**self.__dict__, **tensors})


def build_tables(tokenizer, scheme_name: str, usage: Usage | None = None) -> VocabTables:
    """Tables for one tokenizer and one rhyme scheme (a few hundred ms for 10k tokens).

    `usage`: the corpus counts behind the weights; the shipped file by default (all weights
    1.0 when there is none). Tone and rhyme weights apply only to the scheme the counts were
    read under (平水韵); 中华新韵 readings are Mandarin's, so there they stay 1.0. Line-end
    weights hold for both.
    """
    scheme = get_scheme(scheme_name)
    usage = load_usage() if usage is None else usage
    readings = usage if usage.scheme == scheme.name else NO_USAGE
    ends = usage.end_weights()
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    special = set(tokenizer.all_special_tokens)
    chars = [""] * size
    ids = {}
    for token, token_id in vocab.items():
        if len(token) == 1 and token not in special:
            ids[token] = token_id
            if is_cjk(token):
                chars[token_id] = token
    ping = [False] * size
    ze = [False] * size
    ping_weight = [0.0] * size
    ze_weight = [0.0] * size
    end_weight = [1.0] * size
    shi: dict[str, list[tuple[int, float]]] = {}
    ci: dict[str, list[int]] = {}
    for token_id, char in enumerate(chars):
        if not char:
            continue
        tones = scheme.tones(char)
        ping[token_id] = PING in tones
        ze[token_id] = len(tones - {PING}) > 0
        if ping[token_id]:
            ping_weight[token_id] = readings.tone_weight(char, PING) if ze[token_id] else 1.0
        if ze[token_id]:
            ze_weight[token_id] = readings.tone_weight(char, ZE) if ping[token_id] else 1.0
        end_weight[token_id] = ends.get(char, 1.0)
        rhymes = scheme.groups_of(char, PING)
        for group in rhymes:
            weight = readings.group_weight(char, group) if len(rhymes) > 1 else 1.0
            shi.setdefault(group, []).append((token_id, weight))
        for group in scheme.ci_groups(char):
            ci.setdefault(group, []).append(token_id)
    groups = [("shi", g) for g in sorted(shi, key=scheme.order.__getitem__)]
    groups += [("ci", g) for g in sorted(ci)]
    member_weight = torch.zeros(len(groups), size)
    for row, (kind, group) in enumerate(groups):
        if kind == "shi":
            members, weights = zip(*shi[group], strict=True)
            member_weight[row, list(members)] = torch.tensor(weights)
        else:
            member_weight[row, ci[group]] = 1.0
    member = member_weight > 0
    han = torch.tensor([bool(c) for c in chars], dtype=torch.bool)
    ping_t, ze_t = torch.tensor(ping), torch.tensor(ze)
    return VocabTables(
        chars=tuple(chars),
        ids=ids,
        han=han,
        ping=ping_t,
        ze=ze_t,
        groups=tuple(groups),
        member=member,
        group_index={group: i for i, group in enumerate(groups)},
        counts={
            (g, tone): int((member[g] & mask).sum())
            for g in range(len(groups))
            for tone, mask in ((None, han), (PING, ping_t), (ZE, ze_t))
        },
        eos_id=tokenizer.eos_token_id,
        ping_weight=torch.tensor(ping_weight),
        ze_weight=torch.tensor(ze_weight),
        member_weight=member_weight,
        end_weight=torch.tensor(end_weight),
    )
