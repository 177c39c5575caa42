"""The weights of taste (重字, 叠字, topic, 对仗): exactly at the step they act, and in poems."""

from collections import Counter

import pytest
import torch
from test_generation_decode import Parrot
from transformers import AutoTokenizer

from model.generation import Generator
from model.generation.constraints import PLAIN, TASTE, Constraints, Taste
from model.generation.lexicon import FILE_NAME, Lexicon
from model.generation.plan import plan
from model.generation.vocab import build_tables
from yinshi.prosody import analyze
from yinshi.protocol import PoemRequest


@pytest.fixture(scope="module")
def tokenizer(tiny_poet):
    return AutoTokenizer.from_pretrained(tiny_poet)


@pytest.fixture(scope="module")
def tables(tokenizer):
    return build_tables(tokenizer, "pingshui")


def ids(tokenizer, chars: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(c) for c in chars]


def lexicon_of(
    tokenizer, topic: dict[str, str], pair: dict[str, str], undoubled: str = ""
) -> Lexicon:
    """A lexicon giving every listed partner the top score; `undoubled` are never 叠字."""
    size, k = len(tokenizer), 32
    tables = {}
    for name, partners in (("topic", topic), ("pair", pair)):
        found = torch.zeros(size, k, dtype=torch.long)
        scores = torch.zeros(size, k)
        for char, chars in partners.items():
            row = ids(tokenizer, char)[0]
            found[row, : len(chars)] = torch.tensor(ids(tokenizer, chars))
            scores[row, : len(chars)] = 4.0
        tables[f"{name}_ids"], tables[f"{name}_scores"] = found, scores
    tables["doubling"] = torch.ones(size)
    tables["doubling"][ids(tokenizer, undoubled)] = 0.0
    return Lexicon(**tables)


def step_through(constraints: Constraints, text: str, tokenizer, until: int) -> None:
    """Advance a one-row batch through the steps before `until`, writing `text`'s characters
    at the sampled steps (marks are forced)."""
    chars = iter(text)
    for t in range(until):
        forced = int(constraints.forced_at(t)[0])
        token = forced if forced >= 0 else ids(tokenizer, next(chars))[0]
        constraints.advance(t, torch.tensor([token]))


def test_a_used_character_is_penalised_and_a_second_half_of_dieci_is_not(tokenizer, tables):
    layout = plan(PoemRequest(topic="春", form="七绝", strict=False), tables, frozenset())[0]
    constraints = Constraints(tables, [layout], None, tokenizer.unk_token_id)
    shan, shui, hua = ids(tokenizer, "山水花")
    step_through(constraints, "山", tokenizer, 1)
    weights = constraints.allowed(1)[0][0]
    assert weights[shui] == weights[hua] == 1.0
    assert weights[shan] == 1.0  # 山山: the 叠字's second half reads as one word
    constraints.advance(1, torch.tensor([shan]))  # 山山
    weights = constraints.allowed(2)[0][0]
    assert weights[shan] == pytest.approx(TASTE.repeat**2)  # no 山山山
    constraints.advance(2, torch.tensor([shui]))
    constraints.advance(3, torch.tensor([hua]))
    assert constraints.allowed(4)[0][0][shui] == pytest.approx(TASTE.repeat)  # 水花水
    # a character real poets do not double (出) is not spared: no 出出
    lexicon = lexicon_of(tokenizer, {}, {}, undoubled="山")
    constraints = Constraints(tables, [layout], None, tokenizer.unk_token_id, lexicon)
    step_through(constraints, "山", tokenizer, 1)
    assert constraints.allowed(1)[0][0][shan] == pytest.approx(TASTE.repeat)


def test_the_title_and_the_couplet_above_lean_the_choice(tokenizer, tables):
    lexicon = lexicon_of(tokenizer, topic={"春": "花柳"}, pair={"山": "水"})
    layout = plan(PoemRequest(topic="春", form="五律", strict=False), tables, frozenset())[0]
    constraints = Constraints(tables, [layout], None, tokenizer.unk_token_id, lexicon)
    hua, liu, yun, shui = ids(tokenizer, "花柳云水")
    boost = float(torch.tensor(4.0 * TASTE.topic).exp())
    weights = constraints.allowed(0)[0][0]
    assert weights[hua] == weights[liu] == pytest.approx(boost)
    assert weights[yun] == 1.0
    # line 3 (the 颔联's first line) starts at step 12; line 4 at step 18
    step_through(constraints, "一二三四五六七八九十" + "山", tokenizer, 13)
    for t, char in zip(range(13, 18), "云月风雪。", strict=True):
        forced = int(constraints.forced_at(t)[0])
        constraints.advance(t, torch.tensor([forced if forced >= 0 else ids(tokenizer, char)[0]]))
    pair_boost = float(torch.tensor(4.0 * TASTE.pair).exp())
    under_shan = constraints.allowed(18)[0][0]
    assert under_shan[shui] == pytest.approx(pair_boost)  # 山 above → 水 below
    assert under_shan[yun] == pytest.approx(TASTE.repeat)  # used, and no partner of 山
    plain = Constraints(tables, [layout], None, tokenizer.unk_token_id, lexicon, PLAIN)
    assert bool((plain.allowed(0)[0][0] <= 1.0).all())


def flat_poet(tokenizer, favourites: str, lexicon: Lexicon | None = None, taste=TASTE):
    """A parrot whose wishes differ by 0.5 a rank: taste can reorder them."""
    model = Parrot(len(tokenizer), [])
    for rank, token in enumerate(ids(tokenizer, favourites)):
        model.wish[token] = 10.0 - 0.5 * rank
    return Generator(model, tokenizer, "flat-1", lexicon=lexicon, taste=taste)


def extra_uses(text: str) -> int:
    """Characters used again, a 叠字 (萧萧) counting once."""
    chars = [c for i, c in enumerate(text) if c not in "，。" and (i == 0 or text[i - 1] != c)]
    return len(chars) - len(set(chars))


def test_repeats_go_and_form_holds(tokenizer):
    """A parrot wants a dozen characters far above all others: without the penalty it repeats
    them all the time; with a strong one it never does (a 叠字 aside)."""
    favourites = "山水云月风花春秋江天人来日夜烟雨年时心中城楼门前"
    requests = [PoemRequest(topic="山", form="五绝", seed=s, temperature=1.0) for s in range(8)]
    before = flat_poet(tokenizer, favourites, taste=PLAIN).generate(requests)
    after = flat_poet(tokenizer, favourites, taste=Taste(repeat=1e-6)).generate(requests)
    repeats = [
        sum(extra_uses("".join(r.poems[0].lines)) for r in results) for results in (before, after)
    ]
    assert repeats[0] > 8 and repeats[1] == 0, repeats
    for result in after:
        poem = result.poems[0]
        assert analyze("".join(poem.lines), form="五绝").conforms
        assert poem.mask_nll is not None and poem.mask_nll >= 0


def test_the_topic_shows_in_the_poems(tiny_poet, tokenizer):
    from model.generation import load_generator

    lexicon = lexicon_of(tokenizer, topic={"江": "帆舟潮浦岸波渡"}, pair={})
    poet = load_generator(tiny_poet)
    requests = [PoemRequest(topic="江", form="五绝", seed=s, strict=False) for s in range(40)]
    counts = []
    for lex in (None, lexicon):
        poet.lexicon = lex
        text = "".join("".join(r.poems[0].lines) for r in poet.generate(requests))
        counts.append(sum(Counter(text)[c] for c in "帆舟潮浦岸波渡"))
    assert counts[1] > 3 * max(counts[0], 1), counts


def test_the_lexicon_is_built_from_the_training_split(prepared_corpus, tiny_poet, tmp_path):
    import shutil

    from training.corpus.lexicon import build
    from training.lm.data import read_records

    model_dir = tmp_path / "poet"
    shutil.copytree(tiny_poet, model_dir)
    summary = build(prepared_corpus, model_dir)
    lexicon = Lexicon.load(model_dir / FILE_NAME)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    vocab = tokenizer.get_vocab()
    assert summary["works"] > 0 and summary["aligned_pairs"] > 0
    assert lexicon.topic_ids.shape == (len(tokenizer), 32)
    assert float(lexicon.topic_scores.max()) > 0
    # every kept topic partner appears in the body of some training work titled with its char
    train = read_records(prepared_corpus, "train")
    chars = {i: c for c, i in vocab.items()}
    row = int(lexicon.topic_scores.max(1).values.argmax())
    title_char = chars[row]
    partners = [chars[int(i)] for i, s in zip(lexicon.topic_ids[row], lexicon.topic_scores[row],
                                               strict=True) if s > 0]  # fmt: skip
    bodies = "".join(r["text"] for r in train if title_char in (r.get("title") or ""))
    assert partners and all(p in bodies for p in partners)


def wishing_poet(tokenizer, favourites: str, taste=TASTE) -> Generator:
    """A parrot with gently falling wishes (0.2 a rank) and every other character below."""
    model = Parrot(len(tokenizer), [])
    model.wish[build_tables(tokenizer, "pingshui").han] = 4.0
    for rank, token in enumerate(ids(tokenizer, favourites)):
        model.wish[token] = 10.0 - 0.2 * rank
    return Generator(model, tokenizer, "wishing-1", taste=taste, oversample=1)


USAGE_ONLY = Taste(repeat=1.0, topic=0.0, pair=0.0, usage=True)
"""Readings weighed by the corpus, nothing else: their effect alone."""


def test_the_rhyme_group_is_the_one_the_model_wants(tokenizer):
    for favourites, group in (("天年前烟边", "先"), ("长香光乡阳", "阳")):
        poet = wishing_poet(tokenizer, favourites, USAGE_ONLY)
        requests = [PoemRequest(topic="山", form="七绝", seed=s) for s in range(4)]
        assert {r.poems[0].rhyme_group for r in poet.generate(requests)} == {group}


def test_a_rare_reading_does_not_carry_the_rhyme(tokenizer):
    """平 rhymes in 庚 (2,135 times in the corpus) and in 先 (3, as 便 pián): after a first line
    ending in 平 the poet goes on in 庚, though it wants 先's characters more.
    (The issue's example, 还 in 删 or 先, needs 删, which the tiny vocabulary cannot rhyme in.)
    The sampling is pinned (top-p 0.9): the toy poet wants 先 far more than a real one would,
    and what is tested is the usage weight, not how much of the tail the sampler keeps."""
    requests = [
        PoemRequest(
            topic="归", form="七绝", first_line="日暮孤舟独自平", seed=s, temperature=1, top_p=0.9
        )
        for s in range(16)
    ]
    wants = "天年前烟边生声情明城"
    plain = wishing_poet(tokenizer, wants, PLAIN).generate(requests)
    tasteful = wishing_poet(tokenizer, wants, USAGE_ONLY).generate(requests)
    plain_groups = Counter(r.poems[0].rhyme_group for r in plain)
    tasteful_groups = Counter(r.poems[0].rhyme_group for r in tasteful)
    assert plain_groups["先"] >= 10, plain_groups
    assert tasteful_groups["庚"] >= 15, tasteful_groups
    assert all(r.poems[0].conforms for r in tasteful)
