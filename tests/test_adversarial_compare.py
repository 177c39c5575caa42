"""``yinshi eval --compare`` on the tiny random poet: base, reranked, adversarial side by side."""

import json
import math
import shutil

import pytest

from model.prompt import clean_title
from model.prosody.forms import REGULAR_FORMS
from training.adversarial.compare import plan_requests
from training.lm.data import read_records
from yinshi.cli import main

COMPARE = ["--compare", "--samples", "8", "--judge-per-form", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory, tiny_poet, prepared_corpus):
    """The full report of a poet with its own critic against a stand-in for a tuned one."""
    root = tmp_path_factory.mktemp("compare")
    poet, adversarial, out = root / "poet", root / "adversarial", root / "report"
    shutil.copytree(tiny_poet, poet)
    shutil.copytree(tiny_poet, adversarial)  # no discriminator/ beside it
    argv = ["train", "discriminator", "--generator", str(poet), "--corpus", str(prepared_corpus)]
    assert main([*argv, "--n-per-form", "2", "--max-steps", "2", "--threads", "1"]) == 0
    argv = ["eval", "--model", str(poet), "--corpus", str(prepared_corpus), "--out", str(out)]
    assert main([*argv, "--n", "1", *COMPARE, "--adversarial", str(adversarial)]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_every_variant_is_measured_and_stays_conforming(compared):
    report, _ = compared
    assert {"perplexity", "forms"} <= set(report)  # the language-model report is still there
    generators = report["variants"]["generators"]
    assert list(generators) == ["base", "reranked", "adversarial"]
    for name, row in generators.items():
        assert row["requested"] == 8 and row["n"] == 8, name
        assert row["conform"] == 1.0, name
        assert 1.0 < row["ppl_base"] < math.inf
        for key in ("realness", "judge_auc", "self_bleu_2", "self_bleu_4", "copy"):
            assert 0.0 <= row[key] <= 1.0, (name, key)
        for key in ("distinct_1", "distinct_2", "unique_first_lines"):
            assert 0.0 < row[key] <= 1.0, (name, key)


@pytest.mark.slow
def test_variants_answer_the_same_requests_with_test_titles(compared, prepared_corpus):
    report, _ = compared
    generators = report["variants"]["generators"]
    asked = {
        name: [(s["title"], s["form"], s["seed"]) for s in row["samples"]]
        for name, row in generators.items()
    }
    assert asked["base"] == asked["reranked"] == asked["adversarial"]
    assert [form for _, form, _ in asked["base"]] == [*REGULAR_FORMS, *REGULAR_FORMS]
    assert len({seed for _, _, seed in asked["base"]}) == 8
    test_titles = {clean_title(r.get("title") or "") for r in read_records(prepared_corpus, "test")}
    assert {title for title, _, _ in asked["base"]} <= test_titles
    assert all(s["text"] for row in generators.values() for s in row["samples"])


@pytest.mark.slow
def test_the_fresh_judge_and_the_critics_are_reported(compared):
    report, _ = compared
    judge = report["variants"]["judge"]
    assert 0.0 <= judge["test_auc"] <= 1.0
    assert 0 < judge["train_real"] == judge["train_fake"] <= 8  # 2 val poems of each form
    assert judge["test_fake"] == 24 and judge["test_real"] > 0
    critics = report["variants"]["critics"]
    assert list(critics) == ["base"]  # the stand-in has no discriminator of its own
    assert 0.0 <= critics["base"]["test_auc"] <= 1.0


@pytest.mark.slow
def test_markdown_has_the_side_by_side_table(compared):
    _, markdown = compared
    assert "| variant | poems | 合律率 conformance | ppl under base | judge realness |" in markdown
    for name in ("base", "reranked", "adversarial"):
        assert f"| {name} | 8/8 | 1.000 |" in markdown
    assert "held-out AUC" in markdown and "unique first lines (variants)" in markdown
    assert "## 困惑度 Perplexity" in markdown


@pytest.mark.slow
def test_compare_alone_without_a_critic_and_two_tuned_poets(tiny_poet, prepared_corpus, tmp_path):
    for name in ("run-a", "run-b"):
        shutil.copytree(tiny_poet, tmp_path / name)
    tuned = ["--adversarial", str(tmp_path / "run-a"), "--adversarial", str(tmp_path / "run-b")]
    argv = ["eval", "--model", str(tiny_poet), "--corpus", str(prepared_corpus), *tuned]
    assert main([*argv, "--out", str(tmp_path), *COMPARE, "--samples", "4", "--skip-lm"]) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "perplexity" not in report and "forms" not in report
    generators = report["variants"]["generators"]
    assert list(generators) == ["base", "adversarial-run-a", "adversarial-run-b"]
    assert all(row["conform"] == 1.0 for row in generators.values())
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "No `reranked` variant" in markdown and "困惑度" not in markdown


def test_requests_take_the_forms_in_turn_and_cycle_the_titles():
    test = [{"form": "五绝", "title": "春 晓"}, {"form": "七律", "title": "<登高>"}]
    requests = plan_requests(test, 9, seed=5)
    assert [r.form for r in requests] == [*REGULAR_FORMS, *REGULAR_FORMS, "五绝"]
    assert [r.topic for r in requests if r.form == "五绝"] == ["春晓"] * 3
    assert {r.topic for r in requests if r.form == "七律"} == {"登高"}
    assert {r.topic for r in requests if r.form == "七绝"} == {"七绝"}  # no test poem: its name
    assert [r.seed for r in requests] == list(range(5, 14))
    assert plan_requests(test, 9, seed=5) == requests


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "0"], "--samples"),
        (["--judge-per-form", "0"], "--judge-per-form"),
        (["--alpha", "0"], "--alpha"),
        (["--adversarial", "MISSING"], "--adversarial"),
        (["--skip-lm"], "--skip-lm"),
    ],
)
def test_bad_arguments_are_one_clear_line(extra, message, tmp_path, capsys):
    model = tmp_path / "model"  # refused before anything is loaded: a config is enough
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    extra = [str(tmp_path / "nope") if arg == "MISSING" else arg for arg in extra]
    compare = [] if extra == ["--skip-lm"] else ["--compare"]
    argv = ["eval", "--model", str(model), "--out", str(tmp_path), *compare, *extra]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error
    if "--adversarial" in extra:
        assert "nope" in error
    assert not (tmp_path / "report.json").exists()
