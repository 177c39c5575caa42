"""End to end on the fixture corpus with the tiny preset: pretrain, resume, fine-tune, eval."""

import hashlib
import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerControl, TrainerState

from model.prompt import prompt_text
from training.lm.train import TimeBudget
from yinshi.cli import main

pytestmark = pytest.mark.slow

TINY = ["--preset", "tiny", "--threads", "1", "--eval-steps", "2"]
SMALL_VOCAB = ["--min-char-count", "1", "--min-tune-count", "3"]


def pretrain(corpus, out, *extra: str) -> int:
    argv = ["train", "pretrain", *TINY, *SMALL_VOCAB, "--corpus", str(corpus), "--out", str(out)]
    return main([*argv, *extra])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, prepared_corpus):
    out = tmp_path_factory.mktemp("pretrain")
    assert pretrain(prepared_corpus, out, "--max-steps", "4") == 0
    return out


def info(directory) -> dict:
    return json.loads((directory / "yinshi.json").read_text(encoding="utf-8"))


def test_pretrain_writes_a_standard_checkpoint_and_its_records(pretrained, prepared_corpus):
    model = AutoModelForCausalLM.from_pretrained(pretrained)
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert (pretrained / "loss.png").read_bytes()[:4] == b"\x89PNG"
    record = info(pretrained)
    train_bytes = (prepared_corpus / "train.jsonl").read_bytes()
    assert record["data"]["train_sha256"] == hashlib.sha256(train_bytes).hexdigest()
    assert record["preset"]["name"] == "tiny" and record["format_version"] == 1
    metrics = record["metrics"]
    assert metrics["steps"] == 4
    assert metrics["tokens_seen"] == 4 * 8 * 64  # steps × batch × block, packed: no padding
    assert metrics["tokens_per_s"] > 0
    assert 1 < metrics["test_ppl_jinti"] < 10 * len(tokenizer)
    history = json.loads((pretrained / "metrics.json").read_text())["log_history"]
    assert [e["step"] for e in history if "eval_loss" in e] == [2, 4]
    vocab = tokenizer.get_vocab()
    assert record["tunes"] and all(f"<{tune}>" in vocab for tune in record["tunes"])


def test_same_seed_same_weights(pretrained, prepared_corpus, tmp_path):
    assert pretrain(prepared_corpus, tmp_path, "--max-steps", "4") == 0
    first = AutoModelForCausalLM.from_pretrained(pretrained).state_dict()
    second = AutoModelForCausalLM.from_pretrained(tmp_path).state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_resume_continues_from_the_last_checkpoint(pretrained, prepared_corpus, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(pretrained, out)
    assert pretrain(prepared_corpus, out, "--max-steps", "6", "--resume", "--no-test-eval") == 0
    record = info(out)
    assert record["training"]["resumed"] is True
    assert record["metrics"]["steps"] == 6
    assert record["metrics"]["tokens_seen"] == 6 * 8 * 64
    history = json.loads((out / "metrics.json").read_text())["log_history"]
    assert [e["step"] for e in history if "eval_loss" in e] == [2, 4, 6]


def test_finetune_then_generate_and_evaluate(pretrained, prepared_corpus, tmp_path):
    out = tmp_path / "finetune"
    argv = ["train", "finetune", "--init", str(pretrained), "--corpus", str(prepared_corpus)]
    extra = ["--out", str(out), "--max-steps", "2", "--only-conforming", "--threads", "1"]
    assert main([*argv, *extra, "--eval-steps", "2"]) == 0
    record = info(out)
    assert record["training"]["stage"] == "finetune" and record["training"]["added_tokens"] == []
    assert record["preset"]["name"] == "tiny"  # taken from the init checkpoint
    assert record["training"]["works"] < 219  # 曲, 其他 and non-conforming 近体 left out

    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = tokenizer(prompt_text("七绝", "春江"), return_tensors="pt")
    torch.manual_seed(0)
    generated = model.generate(**prompt, do_sample=True, max_new_tokens=8)
    assert generated.shape[1] > prompt["input_ids"].shape[1]

    report_dir = tmp_path / "report"
    argv = ["eval", "--model", str(out), "--corpus", str(prepared_corpus), "--n", "2"]
    assert main([*argv, "--threads", "1", "--out", str(report_dir)]) == 0
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert {"jinti", "ci", "all"} <= set(report["perplexity"])
    assert {"五绝", "七绝", "五律", "七律", "菩萨蛮"} <= set(report["forms"])
    real = report["forms"]["七绝"]["real"]
    assert real["format"] == 1.0  # real 七绝 always have four lines of seven
    assert 0 <= report["forms"]["七绝"]["model"]["format"] <= 1
    assert "格式正确率" in (report_dir / "report.md").read_text(encoding="utf-8")


def test_finetune_from_a_foreign_checkpoint_adds_the_control_tokens(prepared_corpus, tmp_path):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    chars = sorted({c for line in (prepared_corpus / "train.jsonl").open() for c in line})
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(["[UNK]", *chars])}, "[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    foreign = tmp_path / "foreign"
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]").save_pretrained(foreign)
    config = GPT2Config(vocab_size=len(chars) + 1, n_positions=64, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(foreign)

    out = tmp_path / "out"
    argv = ["train", "finetune", "--init", str(foreign), "--corpus", str(prepared_corpus)]
    argv += ["--out", str(out), "--max-steps", "2", "--preset", "tiny", "--threads", "1"]
    assert main([*argv, "--no-test-eval"]) == 0
    added = info(out)["training"]["added_tokens"]
    assert {"<bos>", "<eos>", "<sep>", "<七绝>", "<词>"} <= set(added)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    ids = tokenizer(prompt_text("七绝", "春"), add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids)[:2] == ["<bos>", "<七绝>"]


def test_time_budget_counts_earlier_time_and_stops_with_a_last_eval_and_save():
    clock = TimeBudget(minutes=1)
    state, control = TrainerState(), TrainerControl()
    state.log_history = [{"loss": 1.0, "elapsed_s": 30.0, "step": 5}]
    clock.on_train_begin(None, state, control)
    assert 30 <= clock.elapsed() < 40 and clock.fraction() == pytest.approx(0.5, abs=0.1)
    clock.on_step_end(None, state, control)
    assert not control.should_training_stop
    state.log_history.append({"loss": 1.0, "elapsed_s": 61.0, "step": 9})
    clock.on_train_begin(None, state, control)
    clock.on_step_end(None, state, control)
    assert control.should_training_stop and control.should_evaluate and control.should_save


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "pretrain", "--preset", "huge"], "unknown preset"),
        (["train", "pretrain", "--preset", "tiny", "--max-steps", "0"], "--max-steps"),
        (["train", "pretrain", "--preset", "tiny", "--resume", "--max-steps", "1"], "续训"),
        (["train", "finetune", "--forms", "十四行诗"], "十四行诗"),
        (["eval", "--model", "/nonexistent"], "找不到模型"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, pretrained, prepared_corpus, tmp_path, capsys):
    argv = [*argv, "--corpus", str(prepared_corpus)]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path), "--threads", "1"]
    if argv[1] == "finetune":
        argv += ["--init", str(pretrained)]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error
