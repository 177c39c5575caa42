"""The discriminator on the tiny random poet: train, reload, score, rerank, bad input."""

import json
import math
import shutil

import pytest

from model.discriminator import INFO_FILE, load_discriminator, mixed_score
from model.generation import load_generator
from model.generation.ranking import steered_logprob
from training.adversarial.discriminator import auc
from yinshi.cli import main
from yinshi.errors import UserError
from yinshi.protocol import PoemRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def poet_with_judge(tmp_path_factory, tiny_poet, prepared_corpus):
    """A copy of the tiny poet with a discriminator trained into its default place."""
    poet = tmp_path_factory.mktemp("judged") / "poet"
    shutil.copytree(tiny_poet, poet)
    argv = ["train", "discriminator", "--generator", str(poet), "--corpus", str(prepared_corpus)]
    assert main([*argv, "--n-per-form", "2", "--max-steps", "2", "--threads", "1"]) == 0
    return poet


def test_training_writes_a_loadable_classifier_and_its_record(poet_with_judge):
    judge_dir = poet_with_judge / "discriminator"
    for name in ("config.json", "model.safetensors", "tokenizer.json", INFO_FILE):
        assert (judge_dir / name).is_file(), name
    assert not (judge_dir / ".trainer").exists() and not (judge_dir / ".final").exists()
    info = json.loads((judge_dir / INFO_FILE).read_text(encoding="utf-8"))
    assert 0.0 <= info["test_auc"] <= 1.0
    assert info["steps"] == 2
    assert 0 < info["train_real"] <= 8 and info["train_fake"] == info["train_real"]
    assert info["test_real"] > 0 and info["test_fake"] == info["test_real"]
    assert info["generator_version"].startswith("poet-")


def test_realness_is_a_probability_per_poem(poet_with_judge):
    judge = load_discriminator(poet_with_judge / "discriminator", device="cpu")
    poems = [["白日依山尽，", "黄河入海流。", "欲穷千里目，", "更上一层楼。"], ["春眠不觉晓，"]]
    scores = judge.realness(poems, ["五绝", "浣溪沙"])
    assert len(scores) == 2 and all(0.0 < p < 1.0 for p in scores)
    assert judge.realness(poems[:1], ["五绝"])[0] == pytest.approx(scores[0], abs=1e-5)


def test_mixed_score_reranking_keeps_every_poem_conforming(poet_with_judge):
    generator = load_generator(poet_with_judge, device="cpu")
    score = mixed_score(load_discriminator(poet_with_judge / "discriminator", "cpu"), 2.0)
    requests = [PoemRequest(topic="春江", form=form, seed=3, n=2) for form in ("七绝", "五律")]
    results = generator.generate(requests, score=score)
    poems = [poem for result in results for poem in result.poems]
    assert len(poems) == 4 and all(poem.conforms for poem in poems)


def test_mixed_score_adds_the_weighted_log_realness(poet_with_judge):
    generator = load_generator(poet_with_judge, device="cpu")
    judge = load_discriminator(poet_with_judge / "discriminator", "cpu")
    captured = []

    def spy(candidate):
        captured.append(candidate)
        return steered_logprob(candidate)

    generator.generate([PoemRequest(topic="秋月", form="五绝", seed=5)], score=spy)
    candidate = captured[0]
    real = judge.realness([candidate.lines], [candidate.layout.form])[0]
    expected = steered_logprob(candidate) + 0.5 * math.log(real)
    assert mixed_score(judge, 0.5)(candidate) == pytest.approx(expected, abs=1e-5)
    assert mixed_score(judge, 0.5).batch([candidate])[0] == pytest.approx(expected, abs=1e-5)


def test_load_generator_switches_reranking_on_only_with_alpha(poet_with_judge, tiny_poet):
    plain = load_generator(poet_with_judge, device="cpu")
    judged = load_generator(poet_with_judge, device="cpu", discriminator_alpha=0.5)
    assert plain.score is steered_logprob
    assert judged.score.alpha == 0.5
    assert judged.model_version.startswith(plain.model_version + "+discriminator-")
    no_judge = load_generator(tiny_poet, device="cpu", discriminator_alpha=0.5)
    assert no_judge.score is steered_logprob  # nothing beside the weights: log-prob alone
    result = judged.generate([PoemRequest(topic="江雪", form="七绝", seed=2)])[0]
    assert result.poems[0].conforms and result.model_version == judged.model_version


def test_auc_counts_pairs_and_ties():
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5, 0.9], [0.5]) == 0.75
    with pytest.raises(UserError):
        auc([], [0.5])


def test_missing_generator_is_a_one_line_error(tmp_path, capsys, prepared_corpus):
    argv = ["train", "discriminator", "--generator", str(tmp_path / "nope")]
    assert main([*argv, "--corpus", str(prepared_corpus)]) == 2
    error = capsys.readouterr().err.strip()
    assert "nope" in error and "\n" not in error and "Traceback" not in error


def test_missing_discriminator_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="判别器"):
        load_discriminator(tmp_path)
