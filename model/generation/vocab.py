"""What every token of the model's vocabulary is to the 格律 rules, as tensors.

Masks are built position by position for a whole batch, so the per-character facts (is it a
Han character, can it be read 平, can it be read 仄, which rhyme groups can it rhyme in) are
looked up once per (tokenizer, scheme) and kept as boolean tensors over the vocabulary. A
polyphone is both 平 and 仄 and sits in every group of every reading, like the analyser reads it.
"""

from dataclasses import dataclass

import torch

from model.prosody import get_scheme
from model.prosody.rules import PING, ZE
from model.prosody.text import is_cjk


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

    def usable(self, group: int, tone: str | None = None) -> int:
        return self.counts[group, tone]

    def to(self, device: str | torch.device) -> "VocabTables":
        tensors = {name: getattr(self, name).to(device) for name in ("han", "ping", "ze", "member")}
        return VocabTables(**{**self.__dict__, **tensors})


def build_tables(tokenizer, scheme_name: str) -> VocabTables:
    """Tables for one tokenizer and one rhyme scheme (a few hundred ms for 8k tokens)."""
    scheme = get_scheme(scheme_name)
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
    ping = torch.zeros(size, dtype=torch.bool)
    ze = torch.zeros(size, dtype=torch.bool)
    shi: dict[str, list[int]] = {}
    ci: dict[str, list[int]] = {}
    for token_id, char in enumerate(chars):
        if not char:
            continue
        tones = scheme.tones(char)
        ping[token_id] = PING in tones
        ze[token_id] = len(tones - {PING}) > 0
        for group in scheme.groups_of(char, PING):
            shi.setdefault(group, []).append(token_id)
        for group in scheme.ci_groups(char):
            ci.setdefault(group, []).append(token_id)
    groups = [("shi", g) for g in sorted(shi, key=scheme.order.__getitem__)]
    groups += [("ci", g) for g in sorted(ci)]
    member = torch.zeros(len(groups), size, dtype=torch.bool)
    for row, (kind, group) in enumerate(groups):
        member[row, (shi if kind == "shi" else ci)[group]] = True
    han = torch.tensor([bool(c) for c in chars], dtype=torch.bool)
    return VocabTables(
        chars=tuple(chars),
        ids=ids,
        han=han,
        ping=ping,
        ze=ze,
        groups=tuple(groups),
        member=member,
        group_index={group: i for i, group in enumerate(groups)},
        counts={
            (g, tone): int((member[g] & mask).sum())
            for g in range(len(groups))
            for tone, mask in ((None, han), (PING, ping), (ZE, ze))
        },
        eos_id=tokenizer.eos_token_id,
    )
