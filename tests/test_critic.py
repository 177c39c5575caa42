"""The critic head on the tiny random poet: features, fitting, the file, and the engine using it."""

import dataclasses
import json
import math
import shutil
from types import SimpleNamespace

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.critic import (
    DEFAULT_ALPHA,
    FILE_NAME,
    INFO_FILE,
    CriticScore,
    Head,
    features,
    load_head,
)
from model.generation import load_generator
from model.generation.engine import model_version
from model.generation.ranking import steered_logprob
from training.adversarial.critic import fit_head, head_auc, save_head
from yinshi.cli import main
from yinshi.errors import UserError
from yinshi.protocol import PoemRequest

pytestmark = pytest.mark.slow

PROMPTS = ["<bos><五绝>登楼<sep>", "<bos><七绝>春江花月夜<sep>"]
BODIES = ["白日依山尽，黄河入海流。", "春江潮水连海平，海上明月共潮生。"]


@pytest.fixture(scope="module")
def poet_with_critic(tmp_path_factory, tiny_poet, prepared_corpus):
    """A copy of the tiny poet with a critic trained beside its weights."""
    poet = tmp_path_factory.mktemp("criticised") / "poet"
    shutil.copytree(tiny_poet, poet)
    argv = ["train", "critic", "--generator", str(poet), "--corpus", str(prepared_corpus)]
    assert main([*argv, "--n-per-form", "3", "--layer", "1", "--threads", "1"]) == 0
    return poet


@pytest.fixture(scope="module")
def checkpoint(tiny_poet):
    return load_checkpoint(tiny_poet, device="cpu")


def toy_head(width: int, forms=frozenset({"五绝", "七绝"}), layer: int = 1) -> Head:
    torch.manual_seed(1)
    mean, scale = torch.randn(width), torch.rand(width) + 0.5
    return Head(mean, scale, torch.randn(width), torch.tensor(0.3), layer, frozenset(forms))


def candidates_of(generator, request: PoemRequest) -> list:
    """Every candidate the engine scores for ``request`` (its seed fixes them)."""
    seen = []

    def spy(candidate):
        seen.append(candidate)
        return steered_logprob(candidate)

    generator.generate([request], score=spy)
    return seen


def test_features_are_the_block_output_pooled_over_the_body(checkpoint):
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    found = features(model, tokenizer, PROMPTS, BODIES, layer=1)
    assert found.shape == (2, model.config.n_embd) and found.dtype == torch.float32
    for row, (prompt, body) in enumerate(zip(PROMPTS, BODIES, strict=True)):
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tokenizer(body, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            states = model.transformer(
                input_ids=torch.tensor([head + tail]), output_hidden_states=True
            ).hidden_states[1][0]
        expected = states[len(head) :].mean(0)  # alone, unpadded: padding must change nothing
        assert torch.allclose(found[row], expected, atol=1e-5)
    deeper = features(model, tokenizer, PROMPTS, BODIES, layer=2)
    assert deeper.shape == found.shape and not torch.allclose(deeper, found)


def test_the_head_is_a_logistic_regression_on_standardised_features():
    one = torch.ones(2)
    head = Head(mean=one, scale=2 * one, weight=torch.tensor([3.0, -1.0]), bias=torch.tensor(0.5))
    assert head.logits(torch.tensor([[5.0, 3.0]])).item() == pytest.approx(2 * 3 - 1 + 0.5)


def test_a_head_fitted_on_separable_data_tells_them_apart():
    torch.manual_seed(0)
    real, fake = torch.randn(60, 8) + 1.5, torch.randn(60, 8) - 1.5
    x, y = torch.cat([real, fake]), torch.cat([torch.ones(60), torch.zeros(60)])
    head = fit_head(x, y, l2=1e-3)
    assert head_auc(head, x, y) > 0.99  # real scores high: a head with its sign flipped fails
    assert torch.allclose(head.mean, x.mean(0)) and head.forms and head.layer >= 1


def test_save_load_round_trip(tmp_path, checkpoint):
    head = toy_head(checkpoint.model.config.n_embd)
    save_head(head, tmp_path / FILE_NAME)
    loaded = load_head(tmp_path / FILE_NAME, checkpoint.model)
    assert (loaded.layer, loaded.forms) == (head.layer, head.forms)
    x = torch.randn(5, checkpoint.model.config.n_embd)
    assert torch.allclose(loaded.logits(x), head.logits(x))
    assert (tmp_path / FILE_NAME).stat().st_size < 2048  # 3 × 32 + 1 floats and a header


@pytest.mark.parametrize("broken", ["garbage", "width", "nan", "layer"])
def test_a_broken_or_foreign_head_is_a_user_error(tmp_path, checkpoint, broken):
    path, width = tmp_path / FILE_NAME, checkpoint.model.config.n_embd
    if broken == "garbage":
        path.write_bytes(b"not a safetensors file")
    else:
        head = toy_head(16 if broken == "width" else width, layer=9 if broken == "layer" else 1)
        if broken == "nan":
            head.weight[0] = math.nan
        save_head(head, path)
    with pytest.raises(UserError, match="评判头"):
        load_head(path, checkpoint.model)


def test_training_writes_a_small_head_and_its_record(poet_with_critic):
    info = json.loads((poet_with_critic / INFO_FILE).read_text(encoding="utf-8"))
    assert 0.0 <= info["test_auc"] <= 1.0 and info["alpha"] == DEFAULT_ALPHA == 10.0
    assert 0.0 <= info["test_auc_prefixes"] <= 1.0
    assert 0 < info["train_real"] <= 12 and info["train_fake"] == info["train_real"]
    assert info["test_real"] > 0 and info["width"] == 32
    assert info["generator_version"].startswith("poet-")
    assert (poet_with_critic / FILE_NAME).stat().st_size < 2048
    assert not [p for p in poet_with_critic.iterdir() if p.name.startswith(".")]  # no temp files


def test_the_head_learns_from_each_poem_cut_after_every_line(checkpoint):
    """Whole poems and their first lines, as the engine asks about both while regrouping."""
    from model.prompt import prompt_text
    from training.adversarial.critic import labelled

    generator = SimpleNamespace(model=checkpoint.model, tokenizer=checkpoint.tokenizer)
    record = {"title": "春江", "form": "七绝", "text": BODIES[1] + BODIES[1]}
    fake = ["一二三四五六七，", "七六五四三二一。", "一二三四五六七，", "七六五四三二一。"]
    whole, labels, _ = labelled(generator, [(record, fake)], 1)
    cut, cut_labels, forms = labelled(generator, [(record, fake)], 1, prefixes=True)
    assert labels.tolist() == [1.0, 0.0] and cut_labels.tolist() == [1.0] * 4 + [0.0] * 4
    assert forms == ["七绝"] * 8
    assert torch.allclose(cut[3], whole[0], atol=1e-5) and torch.allclose(cut[7], whole[1])
    prompt = prompt_text("七绝", "春江")
    first = features(checkpoint.model, checkpoint.tokenizer, [prompt], ["一二三四五六七，"], 1)
    assert torch.allclose(cut[4], first[0], atol=1e-5)


def test_score_adds_the_weighted_log_realness_in_one_batch(poet_with_critic):
    generator = load_generator(poet_with_critic, device="cpu")
    score = generator.score
    assert isinstance(score, CriticScore) and score.alpha == DEFAULT_ALPHA
    five = candidates_of(generator, PoemRequest(topic="秋月", form="五绝", seed=5))
    seven = candidates_of(generator, PoemRequest(topic="春江", form="七律", seed=6))
    chunk = [five[0], seven[0], five[1]]  # different lengths: padded together
    x = features(
        generator.model,
        generator.tokenizer,
        [c.layout.prompt for c in chunk],
        ["".join(c.lines) for c in chunk],
        score.head.layer,
    )
    logits = score.head.logits(x)
    expected = [
        steered_logprob(c) + DEFAULT_ALPHA * math.log(torch.sigmoid(z).item())
        for c, z in zip(chunk, logits, strict=True)
    ]
    assert score.batch(chunk) == pytest.approx(expected, abs=1e-4)
    assert [score(c) for c in chunk] == pytest.approx(expected, abs=1e-4)


def test_the_decoder_pools_the_states_the_critic_reads(poet_with_critic):
    """While writing, the decoder pools the same states a second forward would compute, so
    the critic's score costs no forward at all."""
    generator = load_generator(poet_with_critic, device="cpu")
    score = generator.score
    seen = []

    class Spy:
        layer = score.layer

        def __call__(self, candidate):
            seen.append(candidate)
            return steered_logprob(candidate)

    requests = [
        PoemRequest(topic="秋月", form="五绝", seed=5),
        PoemRequest(topic="春江", form="七律"),
    ]
    generator.generate(requests, score=Spy())
    pooled = torch.stack([c.pooled for c in seen])
    prompts, bodies = [c.layout.prompt for c in seen], ["".join(c.lines) for c in seen]
    forward = features(generator.model, generator.tokenizer, prompts, bodies, score.layer)
    assert torch.allclose(pooled, forward, atol=1e-4)
    unpooled = [dataclasses.replace(c, pooled=None) for c in seen]
    assert score.batch(seen) == pytest.approx(score.batch(unpooled), abs=1e-4)


def test_forms_the_head_never_saw_keep_the_engines_score(poet_with_critic):
    generator = load_generator(poet_with_critic, device="cpu")
    ci = candidates_of(generator, PoemRequest(topic="春景", form="浣溪沙", seed=2))
    assert generator.score.batch(ci) == pytest.approx([steered_logprob(c) for c in ci])


def test_the_engine_ranks_by_the_critic_only_when_it_is_there(poet_with_critic, tiny_poet):
    ranked = load_generator(poet_with_critic, device="cpu")
    request = PoemRequest(topic="江雪", form="七绝", seed=2)
    score, seen = ranked.score, []

    def spy(candidates):
        seen.extend(candidates)
        return CriticScore.batch(score, candidates)

    score.batch = spy
    result = ranked.generate([request])[0]
    del score.batch  # the class's again, for scoring below
    best = max(seen, key=ranked.score)
    assert result.poems[0].lines == best.lines
    assert result.poems[0].score == pytest.approx(ranked.score(best), abs=1e-4)
    assert result.model_version == ranked.model_version

    off = load_generator(poet_with_critic, device="cpu", critic_alpha=0)
    absent = load_generator(tiny_poet, device="cpu")
    assert off.score is steered_logprob and absent.score is steered_logprob
    assert off.model_version == model_version(poet_with_critic)
    assert ranked.model_version.startswith(off.model_version + "+critic-")
    assert ranked.model_version.endswith(f"@{DEFAULT_ALPHA:g}")


def test_model_version_names_the_head_and_its_weight(poet_with_critic, tmp_path):
    version = load_generator(poet_with_critic, device="cpu").model_version
    halved = load_generator(poet_with_critic, device="cpu", critic_alpha=0.5).model_version
    assert halved == version.removesuffix(f"@{DEFAULT_ALPHA:g}") + "@0.5"
    other = tmp_path / "poet"
    shutil.copytree(poet_with_critic, other)
    head = load_head(other / FILE_NAME, load_checkpoint(other, device="cpu").model)
    head.bias = head.bias + 1.0  # a retrained head: cached poems it ranked differently
    save_head(head, other / FILE_NAME)
    retrained = load_generator(other, device="cpu").model_version
    assert retrained.split("+")[0] == version.split("+")[0] and retrained != version


def test_recommended_alpha_comes_from_the_record(poet_with_critic, tmp_path):
    other = tmp_path / "poet"
    shutil.copytree(poet_with_critic, other)
    info = json.loads((other / INFO_FILE).read_text(encoding="utf-8"))
    (other / INFO_FILE).write_text(json.dumps({**info, "alpha": 0.25}), encoding="utf-8")
    assert load_generator(other, device="cpu").score.alpha == 0.25
    (other / INFO_FILE).write_text(json.dumps({**info, "alpha": 0}), encoding="utf-8")
    assert load_generator(other, device="cpu").score is steered_logprob


def test_bad_options_are_one_line_errors(tmp_path, capsys, poet_with_critic, prepared_corpus):
    base = ["train", "critic", "--corpus", str(prepared_corpus)]
    for extra in (
        ["--generator", str(tmp_path / "nope")],
        ["--generator", str(poet_with_critic), "--layer", "3"],
        ["--generator", str(poet_with_critic), "--n-per-form", "0"],
        ["--generator", str(poet_with_critic), "--alpha", "-1"],
    ):
        assert main([*base, *extra]) == 2, extra
        error = capsys.readouterr().err.strip()
        assert error and "\n" not in error and "Traceback" not in error


def test_regrouped_candidates_share_couplets_and_give_one_poem_a_family(poet_with_critic):
    """Regrouping every couplet: the candidates of one poem leave the decoder sharing all but
    their last couplet; two poems asked for come from two families, so they share nothing;
    a 词 (which the head never saw) is written as before."""
    generator = load_generator(poet_with_critic, device="cpu")
    generator.regroup_every = 2
    score, seen = generator.score, []

    def spy(candidates):
        seen.extend(candidates)
        return CriticScore.batch(score, candidates)

    score.batch = spy
    result = generator.generate([PoemRequest(topic="春江", form="七律", seed=3, n=2)])[0]
    families: dict = {}
    for candidate in seen:
        families.setdefault(candidate.family, []).append(candidate)
    assert set(families) == {0, 1}
    for members in families.values():
        assert len(members) > 1 and len({tuple(c.lines[:6]) for c in members}) == 1
    first, second = result.poems
    assert first.conforms and second.conforms
    assert not set(first.lines) & set(second.lines)

    seen.clear()
    generator.generate([PoemRequest(topic="春景", form="浣溪沙", seed=2)])
    generator.regroup_every = 0
    alone = candidates_of(generator, PoemRequest(topic="春景", form="浣溪沙", seed=2))
    assert {c.family for c in seen} == {None}
    assert [c.lines for c in seen] == [c.lines for c in alone]
