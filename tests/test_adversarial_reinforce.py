"""Adversarial fine-tuning on the tiny random poet: the run, the replayed policy, the update."""

import json
import random
import shutil

import pytest
import torch

from model.discriminator import INFO_FILE, load_discriminator
from model.generation import Generator, load_generator
from model.generation import decode as decode_module
from model.generation.copies import FILE_NAME, LineSet, write_line_set
from training.adversarial.reinforce import (
    advantages,
    body_logits,
    forced_kl,
    masked_logprobs,
    poem_logprobs,
    policy_step,
    replay,
    sample,
)
from training.lm.train import load_model, load_tokenizer
from yinshi.cli import main
from yinshi.protocol import PoemRequest

pytestmark = pytest.mark.slow

TITLES = ["春江", "秋月", "山居", "夜雨"]


@pytest.fixture(scope="module")
def poet_with_judge(tmp_path_factory, tiny_poet, prepared_corpus):
    """A copy of the tiny poet with a copy filter and a discriminator in its default place."""
    poet = tmp_path_factory.mktemp("adversarial") / "poet"
    shutil.copytree(tiny_poet, poet)
    write_line_set(prepared_corpus / "train.jsonl", poet)
    argv = ["train", "discriminator", "--generator", str(poet), "--corpus", str(prepared_corpus)]
    assert main([*argv, "--n-per-form", "2", "--max-steps", "2", "--threads", "1"]) == 0
    return poet


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, poet_with_judge, prepared_corpus):
    out = tmp_path_factory.mktemp("tuned") / "run"
    argv = ["train", "adversarial", "--init", str(poet_with_judge), "--corpus"]
    argv += [str(prepared_corpus), "--out", str(out), "--steps", "3", "--batch-size", "4"]
    assert main([*argv, "--d-every", "2", "--d-steps", "1", "--lr", "1e-3", "--threads", "1"]) == 0
    return out


def policy_of(poet) -> Generator:
    """A fresh trainable copy of the poet, as the stage builds it."""
    torch.set_num_threads(1)
    copies = LineSet.load(poet / FILE_NAME)
    return Generator(load_model(poet).eval(), load_tokenizer(poet), "test", copies)


def test_run_writes_a_loadable_poet_its_discriminator_and_the_log(tuned, poet_with_judge):
    for name in ("model.safetensors", "tokenizer.json", "generation_config.json", FILE_NAME):
        assert (tuned / name).is_file(), name
    assert not (tuned / ".final").exists() and not (tuned / "discriminator" / ".final").exists()
    log = json.loads((tuned / "metrics.json").read_text(encoding="utf-8"))["log_history"]
    assert [e["step"] for e in log] == [1, 2, 3]
    assert [e["form"] for e in log] == ["五绝", "七绝", "五律"]
    assert ["d_acc" in e for e in log] == [False, True, False]  # --d-every 2
    assert all(e["poems"] > 0 and e["reward"] <= 0 and 0 < e["distinct_1"] <= 1 for e in log)
    record = json.loads((tuned / "yinshi.json").read_text(encoding="utf-8"))
    assert set(record["metrics"]) >= {"test_ppl_jinti", "test_ppl_all"}  # the tuned poet's own
    assert all(1 < ppl < float("inf") for ppl in record["metrics"].values())
    info = record["adversarial"]
    assert info["steps"] == 3 and info["init"] == str(poet_with_judge)
    assert info["final_kl"] == log[-1]["kl"] > 0

    judge_info = json.loads((tuned / "discriminator" / INFO_FILE).read_text(encoding="utf-8"))
    assert judge_info["adversarial"]["updates"] == 1
    assert judge_info["steps"] == 2  # the original record is kept
    judge = load_discriminator(tuned / "discriminator", device="cpu")
    assert 0.0 < judge.realness([["白日依山尽，", "黄河入海流。"]], ["五绝"])[0] < 1.0
    before = load_discriminator(poet_with_judge / "discriminator", device="cpu")
    assert not torch.equal(before.model.score.weight, judge.model.score.weight)

    assert not torch.equal(
        load_model(poet_with_judge).transformer.wte.weight, load_model(tuned).transformer.wte.weight
    )
    generator = load_generator(tuned, device="cpu")
    result = generator.generate([PoemRequest(topic="江雪", form="七律", seed=4)])[0]
    assert result.poems[0].conforms


def test_replay_reproduces_the_distribution_decode_sampled_from(poet_with_judge, monkeypatch):
    generator = policy_of(poet_with_judge)
    seen = []
    sample_rows = decode_module._sample

    def spy(scaled, allowed, *rest):
        if allowed.shape[0] > 1:  # the batch's draw, not one row's redraw of a line end
            seen.append(allowed.clone() > 0)
        return sample_rows(scaled, allowed, *rest)

    monkeypatch.setattr(decode_module, "_sample", spy)
    sampled = sample(generator, TITLES, "七绝", random.Random(1))
    assert len(sampled.lines) == len(TITLES)
    replayed = replay(generator, sampled)
    with torch.no_grad():
        logits = body_logits(generator.model, sampled, generator.tokenizer.pad_token_id)

    # Teacher forcing sees what the decoder saw: its (unmasked) log-probs add up the same.
    raw = logits.log_softmax(-1).gather(2, sampled.tokens[..., None])[..., 0]
    assert (raw * replayed.choice).sum(1).tolist() == pytest.approx(sampled.logprob, abs=1e-3)

    logp = masked_logprobs(logits, replayed)
    assert torch.isfinite(logp.gather(1, replayed.actions[:, None])).all()
    probs = logp.exp()
    assert (probs[~replayed.allowed] == 0).all()
    assert probs.sum(-1) == pytest.approx(torch.ones(len(probs)), abs=1e-5)

    # The masks are the decoder's, less every line end it would have redrawn (copy, repeat).
    decoded = torch.stack(seen, 1).reshape(-1, logits.shape[-1])  # [poems·28, V] row-major
    assert decoded.shape == replayed.allowed.shape
    assert not (replayed.allowed & ~decoded).any()
    dropped = (decoded & ~replayed.allowed).nonzero().tolist()
    assert dropped  # a Bloom filter of the corpus rejects ~1% of line ends: some must show
    chars = generator.tables("pingshui").chars
    for choice, token in dropped:
        row, t = divmod(choice, 28)  # 七绝: four lines of 7 sampled characters
        line, place = divmod(t, 7)
        assert place == 6  # only a line's last character is ever redrawn
        poem = [text[:-1] for text in sampled.lines[row]]
        text = poem[line][:6] + chars[token]
        assert text in generator.copies or text in poem[:line]


def one_batch(poet, form: str, seed: int):
    """A trainable policy, the frozen init, and one sampled and replayed batch of ``form``."""
    generator = policy_of(poet)
    reference = load_model(poet).eval().requires_grad_(False)
    sampled = sample(generator, TITLES, form, random.Random(seed))
    return generator, reference, sampled, replay(generator, sampled)


def test_a_rewarded_poem_becomes_more_likely(poet_with_judge):
    generator, reference, sampled, replayed = one_batch(poet_with_judge, "五绝", 2)
    pad_id = generator.tokenizer.pad_token_id

    def poem_scores() -> torch.Tensor:
        with torch.no_grad():
            logits = body_logits(generator.model, sampled, pad_id)
        return poem_logprobs(masked_logprobs(logits, replayed), replayed, len(sampled.lines))

    advantage = advantages([5.0, 0.0, 0.0, 0.0])
    assert advantage[0] > 0 > advantage[1] and advantage.mean().abs() < 1e-6
    before = poem_scores()
    optimizer = torch.optim.AdamW(generator.model.parameters(), lr=1e-3, weight_decay=0.0)
    policy_step(generator.model, reference, optimizer, sampled, replayed, advantage, 0.0, pad_id)
    change = poem_scores() - before
    assert change[0] > 0 and change[0] > change[1:].mean()


def test_kl_to_the_init_is_zero_until_the_policy_moves(poet_with_judge):
    generator, reference, sampled, replayed = one_batch(poet_with_judge, "七绝", 3)
    pad_id = generator.tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(generator.model.parameters(), lr=1e-3, weight_decay=0.0)
    advantage = advantages([1.0, 0.0, 0.0, -1.0])
    step = (generator.model, reference, optimizer, sampled, replayed, advantage, 0.1, pad_id)
    _, first, first_forced = policy_step(*step)
    _, second, second_forced = policy_step(*step)
    assert abs(first) < 1e-6 and abs(first_forced) < 1e-6
    assert second > 1e-6 and second_forced > 1e-6  # marks and <eos> drift too, and are anchored


def test_forced_steps_are_anchored_to_the_init(poet_with_judge):
    """The reward never reaches marks and <eos>; the loss still holds them to the init."""
    generator, reference, sampled, replayed = one_batch(poet_with_judge, "五绝", 5)
    pad_id = generator.tokenizer.pad_token_id
    ref_logits = body_logits(reference, sampled, pad_id)
    assert float(forced_kl(ref_logits, ref_logits, replayed)) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():  # knock the policy off the init
        generator.model.lm_head.weight.add_(0.1 * torch.randn_like(generator.model.lm_head.weight))
    optimizer = torch.optim.AdamW(generator.model.parameters(), lr=1e-3, weight_decay=0.0)
    zero = advantages([0.0] * len(sampled.lines))
    loss, kl, kl_forced = policy_step(
        generator.model, reference, optimizer, sampled, replayed, zero, 0.5, pad_id
    )
    assert kl_forced > 1e-3
    assert loss == pytest.approx(0.5 * (kl + kl_forced), rel=1e-4)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--steps", "0"], "--steps"),
        (["--steps", "1", "--batch-size", "1"], "--batch-size"),
        (["--steps", "1", "--kl-coef", "-1"], "--kl-coef"),
        (["--steps", "1", "--discriminator", "nope-judge"], "yinshi train discriminator"),
    ],
)
def test_bad_arguments_are_one_line_errors(extra, expected, tiny_poet, capsys):
    assert main(["train", "adversarial", "--init", str(tiny_poet), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error and "Traceback" not in error


def test_missing_init_or_discriminator_is_named(tmp_path, tiny_poet, capsys):
    assert main(["train", "adversarial", "--init", str(tmp_path / "nope"), "--steps", "1"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["train", "adversarial", "--init", str(tiny_poet), "--steps", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert f"{tiny_poet}/discriminator" in error and "yinshi train discriminator" in error
