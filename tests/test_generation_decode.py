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


def test_a_family_goes_on_from_its_best_row_at_each_couplet(tiny_poet, tokenizer):
    """Rows 0-3 are one family whose rank always prefers its last row: row 3 never changes
    course, so it writes what it writes alone, and at the end the others share its first six
    lines (and its template) but part from it again in the last couplet. Row 4, alone, is
    untouched."""
    from transformers import AutoModelForCausalLM

    from model.generation.constraints import render
    from model.generation.decode import Regroup
    from yinshi.prosody import analyze

    model = AutoModelForCausalLM.from_pretrained(tiny_poet)
    tables = build_tables(tokenizer, "pingshui")
    options = plan(PoemRequest(topic="春江", form="七律", seed=1), tables, frozenset())
    layouts = [options[k % len(options)] for k in range(5)]
    assert len({layout.lines for layout in layouts[:4]}) > 1  # templates differ
    prompt = tokenizer(layouts[0].prompt, add_special_tokens=False)["input_ids"]
    steps = sum(spec.length + 1 for spec in layouts[0].lines) + 1
    rows = [Row(prompt, steps, 1.0, 1.0, seed) for seed in (11, 12, 13, 14, 15)]

    def run(grouped: bool):
        constraints = Constraints(tables, list(layouts), None, tokenizer.unk_token_id)
        regroup = None
        if grouped:
            at = [constraints.regroup_steps(row, 2) for row in range(5)]
            assert [len(s) for s in at] == [3] * 5  # after lines 2, 4 and 6
            regroup = Regroup([0, 0, 0, 0, -1], at, lambda found, _: list(range(len(found))))
        results = decode(model, rows, constraints, tokenizer.pad_token_id, regroup=regroup)
        assert not any(r.failed for r in results)
        return results, constraints, max(max(s) for s in at) if grouped else None

    alone, _, _ = run(False)
    together, constraints, shared = run(True)
    assert together[3].tokens == alone[3].tokens
    assert together[3].logprob == pytest.approx(alone[3].logprob, abs=1e-4)
    assert together[4].tokens == alone[4].tokens
    for k in range(4):
        assert together[k].tokens[: shared + 1] == together[3].tokens[: shared + 1]
        assert constraints.layouts[k] is layouts[3]
        lines = render(constraints.layouts[k], together[k].tokens, tables)
        assert analyze("".join(lines), form="七律").conforms
    assert any(together[k].tokens != together[3].tokens for k in range(3))
    assert together[0].tokens != alone[0].tokens


@pytest.mark.parametrize(
    ("form", "every", "expected"),
    [
        ("七绝", 2, {15}),  # the mark after line 2 (each line: 7 characters and a mark)
        ("七绝", 1, {7, 15, 23}),
        ("七绝", 0.5, {3, 7, 11, 15, 19, 23, 27}),  # and after each line's fourth character
        ("五绝", 0.5, {1, 5, 7, 11, 13, 17, 19}),  # 五言: after the second
    ],
)
def test_regroup_steps_fall_on_couplets_lines_or_caesuras(tokenizer, form, every, expected):
    tables = build_tables(tokenizer, "pingshui")
    layout = plan(PoemRequest(topic="春江", form=form, seed=1), tables, frozenset())[0]
    constraints = Constraints(tables, [layout], None, tokenizer.unk_token_id)
    assert constraints.regroup_steps(0, every) == expected
