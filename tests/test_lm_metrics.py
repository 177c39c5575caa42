"""Sample-quality measures on hand-made poems."""

import math

import pytest

from training.lm.metrics import bleu, copy_rate, corpus_lines, distinct_n, self_bleu
from training.lm.train import MIN_LR_RATIO, lr_factor


def test_distinct_counts_within_lines_without_marks():
    texts = ["春春春，春春。", "花月。"]
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    # bigrams: 春春 春春 | 春春 | 花月 → 2 distinct of 4
    assert distinct_n(texts, 2) == pytest.approx(2 / 4)
    assert distinct_n([], 2) == 0.0


def test_bleu_of_a_copy_is_one_and_of_a_stranger_is_small():
    poem = "白日依山尽，黄河入海流。"
    assert bleu(poem, [poem], 4) == pytest.approx(1.0)
    assert bleu(poem, ["春眠不觉晓，处处闻啼鸟。"], 2) < 0.2


def test_bleu_clips_repeated_ngrams_and_penalises_brevity():
    # unigrams: 白 counted at most once of four; bigrams 白白 ×3 none → smoothed 0.1 / 3
    assert bleu("白白白白。", ["白日。"], 2) == pytest.approx(math.sqrt(1 / 4 * 0.1 / 3))
    # every unigram matches, but 2 characters against a reference of 5: exp(1 - 5/2)
    assert bleu("白日。", ["白日依山尽。"], 1) == pytest.approx(math.exp(-1.5))


def test_self_bleu_is_higher_for_repetitive_samples():
    same = ["白日依山尽，黄河入海流。"] * 3
    varied = ["白日依山尽，黄河入海流。", "春眠不觉晓，处处闻啼鸟。", "床前明月光，疑是地上霜。"]
    assert self_bleu(same, 4) == pytest.approx(1.0)
    assert self_bleu(varied, 4) < 0.1
    assert self_bleu(same[:1], 4) == 0.0


def test_copy_rate_counts_long_lines_found_in_the_corpus():
    known = corpus_lines(["白日依山尽，黄河入海流。", "春眠。"])
    assert "春眠" not in known  # too short to count
    assert copy_rate(["白日依山尽，我自作新诗。"], known) == 0.5
    assert copy_rate(["春眠，春眠。"], known) == 0.0


def test_lr_warms_up_then_decays_to_the_floor():
    assert lr_factor(0, 10, 0.0) == pytest.approx(0.1)
    assert lr_factor(9, 10, 0.0) == pytest.approx(1.0)
    assert lr_factor(10, 10, 0.0) == pytest.approx(1.0)
    assert lr_factor(50, 10, 0.5) == pytest.approx((1 + MIN_LR_RATIO) / 2)
    assert lr_factor(99, 10, 1.0) == pytest.approx(MIN_LR_RATIO)
    assert lr_factor(99, 10, 3.0) == pytest.approx(MIN_LR_RATIO)
