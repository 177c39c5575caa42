"""The decoding loop and its masks, with stand-in models whose wishes are known exactly."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from model.generation import Generator
from model.generation.constraints import PLAIN, Constraints
from model.generation.copies import LineSet
from model.generation.decode import Row, decode
from model.generation.plan import plan
from model.generation.vocab import build_tables
from model.prompt import BASE_TOKENS
from yinshi.prosody.text import LINE_END
from yinshi.protocol import PoemRequest


class Parrot:
    """A "model" that always wants the same characters, best first, whatever came before."""

    def __init__(self, vocab_size: int, favourites: list[int]) -> None:
        self.device = torch.device("cpu")
        self.config = SimpleNamespace(n_positions=256)
        self.wish = torch.zeros(vocab_size)
        for rank, token in enumerate(favourites):
            self.wish[token] = 50.0 - 5 * rank

    def __call__(self, input_ids, logits_to_keep=0, **_):
        steps = 1 if logits_to_keep == 1 else input_ids.shape[1]
        return SimpleNamespace(logits=self.wish.expand(input_ids.shape[0], steps, -1).clone())


@pytest.fixture(scope="module")
def tokenizer(tiny_poet):
    return AutoTokenizer.from_pretrained(tiny_poet)


def parrot_poet(tokenizer, favourites: str, copies: LineSet | None = None) -> Generator:
    """A poet with the parrot's wishes and no taste (no 重字 penalty): the rules alone."""
    ids = [tokenizer.convert_tokens_to_ids(c) for c in favourites]
    return Generator(Parrot(len(tokenizer), ids), tokenizer, "parrot-1", copies, taste=PLAIN)


def test_a_copied_line_gets_a_new_last_character(tokenizer):
    poet = parrot_poet(tokenizer, "山水云月风花", LineSet.from_lines(["山山山山山"]))
    request = PoemRequest(topic="山", form="五绝", strict=False, temperature=0.1, seed=1)
    result = poet.generate([request])[0]
    lines = [line[:-1] for line in result.poems[0].lines]
    assert lines == ["山山山山水", "山山山山云", "山山山山月", "山山山山风"]
    per_candidate = {key: value / result.stats["candidates"] for key, value in result.stats.items()}
    assert per_candidate["rejected_copies"] == 4  # each line's first wish is the training line
    assert per_candidate["rejected_repeats"] == 0 + 1 + 2 + 3  # then each earlier line
    assert per_candidate["resampled"] == 10


def test_rhyme_characters_are_never_repeated_even_if_wanted(tokenizer):
    poet = parrot_poet(tokenizer, "东风红中空同")
    request = PoemRequest(topic="东", form="七律", temperature=0.1, seed=2)
    poem = poet.generate([request])[0].poems[0]
    feet = [line[-2] for line in poem.lines[1::2]]
    assert len(set(feet)) == len(feet) and poem.conforms


def test_masks_allow_only_han_characters(tokenizer):
    tables = build_tables(tokenizer, "pingshui")
    requests = [PoemRequest(topic="春", form=f, seed=1) for f in ("七绝", "free", "如梦令")]
    layouts = [plan(r, tables, frozenset())[0] for r in requests]
    constraints = Constraints(tables, layouts, None, tokenizer.unk_token_id)
    never = [tokenizer.convert_tokens_to_ids(t) for t in BASE_TOKENS if t != "<eos>"]
    never += [tokenizer.convert_tokens_to_ids(c) for c in LINE_END if c in tokenizer.get_vocab()]
    eos_seen = False
    for t in range(constraints.forced.shape[1]):
        weights, dead = constraints.allowed(t)
        allowed = weights > 0
        sampled = constraints.forced_at(t) < 0
        assert not dead[sampled].any()
        assert not allowed[sampled][:, never].any()
        extra = allowed & ~tables.han
        eos_seen |= bool(extra[:, tables.eos_id].any())
        assert not extra[:, [i for i in range(len(tables.chars)) if i != tables.eos_id]].any()
        first_allowed = allowed.float().argmax(-1)
        constraints.advance(t, torch.where(sampled, first_allowed, constraints.forced_at(t)))
    assert eos_seen  # free verse may stop after its fourth line


def test_unconstrained_loop_samples_every_row_for_its_steps(tiny_poet, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_poet)
    rows = [Row([1, 5, 6, 4], steps, 1.0, 0.9, seed) for steps, seed in ((5, 1), (9, 2), (9, 1))]
    results = decode(model, rows, None, pad_id=tokenizer.pad_token_id)
    assert [len(r.tokens) for r in results] == [5, 9, 9]
    assert all(r.sampled == len(r.tokens) and r.logprob < 0 for r in results)
    assert results[0].tokens == results[2].tokens[:5]  # a row's seed, not its batch, decides
