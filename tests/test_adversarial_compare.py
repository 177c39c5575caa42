"""``yinshi eval --compare`` on the tiny random poet: base, reranked, adversarial side by side."""

import json
import math
import shutil

import pytest

from model.prompt import clean_title
from training.adversarial.compare import known_tune, plan_requests
from training.lm.data import read_records
from yinshi.cli import main
from yinshi.prosody.forms import REGULAR_FORMS

COMPARE = ["--compare", "--samples", "8", "--ci-samples", "2", "--judge-per-form", "2"]
COMPARE += ["--threads", "1"]
CONTENT_KEYS = {"n", "conform", "repeats", "repeats_share", "titled", "retrieval", "title_use"}
CONTENT_KEYS |= {"parallel", "xuzi_end", "mask_nll"}


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
    assert list(generators) == ["before", "base", "reranked", "adversarial"]
    for name, row in generators.items():
        assert row["requested"] == 10 and row["n"] == 10, name  # 8 近体, 2 词
        assert row["conform"] == 1.0, name
        assert 1.0 < row["ppl_base"] < math.inf
        for key in ("realness", "judge_auc", "self_bleu_2", "self_bleu_4", "copy"):
            assert 0.0 <= row[key] <= 1.0, (name, key)
        for key in ("distinct_1", "distinct_2", "unique_first_lines"):
            assert 0.0 < row[key] <= 1.0, (name, key)
        assert row["poems_per_s"] > 0 and row["write_seconds"] > 0


@pytest.mark.slow
def test_content_is_measured_per_form_for_every_variant_and_the_real_poems(compared):
    report, _ = compared
    section = report["variants"]
    rows = {**section["generators"], "real": section["real"]}
    for name, row in rows.items():
        table = row["content"]
        assert list(table) == [*REGULAR_FORMS, "词", "all"], name
        assert [table[g]["n"] for g in table] == [2, 2, 2, 2, 2, 10], name
        for group, found in table.items():
            assert set(found) == CONTENT_KEYS, (name, group)
            assert found["repeats"] >= 0 and 0 <= found["repeats_share"] <= 1
            assert 0 <= found["xuzi_end"] <= 1
            assert found["retrieval"] is None  # the fixture has too few titles of any form
        for group in ("五律", "七律"):
            assert 0 <= table[group]["parallel"] <= 1, (name, group)
        for group in ("五绝", "七绝", "词"):
            assert table[group]["parallel"] is None, (name, group)
        assert table["词"]["titled"] == 0  # the test 词 is titled by its tune alone
        assert table["all"]["conform"] == row["conform"]
        mask = table["all"]["mask_nll"]
        assert mask is None if name == "real" else (mask is None or mask >= 0), name
    real = section["real"]
    assert real["requested"] == real["n"] == 10 and real["judge_auc"] is None
    assert 1.0 < real["ppl_base"] < math.inf and 0 <= real["realness"] <= 1
    assert real["copy"] == 0.0  # test poems share no line with train
    assert "samples" not in real and "poems_per_s" not in real
    judge = section["content_judge"]
    assert judge["train_works"] > 0 and judge["word_classes"] > 5000 and judge["seconds"] >= 0


@pytest.mark.slow
def test_the_real_row_is_the_test_poems_the_titles_came_from(compared, prepared_corpus):
    report, _ = compared
    test = read_records(prepared_corpus, "test")
    planned = plan_requests(test, 8, seed=0, ci=2)
    samples = report["variants"]["generators"]["base"]["samples"]
    assert [(p.request.topic, p.request.form) for p in planned] == [
        (s["title"], s["form"]) for s in samples
    ]
    assert [s["real"] for s in samples] == [p.real["id"] for p in planned]
    for p in planned:
        assert p.real in test
        assert clean_title(p.real["title"]) == p.request.topic
        assert p.real["form"] == p.request.form or known_tune(p.real) == p.request.form


@pytest.mark.slow
def test_variants_answer_the_same_requests_with_test_titles(compared, prepared_corpus):
    report, _ = compared
    generators = report["variants"]["generators"]
    asked = {
        name: [(s["title"], s["form"], s["seed"]) for s in row["samples"]]
        for name, row in generators.items()
    }
    assert asked["base"] == asked["reranked"] == asked["adversarial"]
    forms = [*REGULAR_FORMS, *REGULAR_FORMS, "浣溪沙", "浣溪沙"]  # the test split's one 词
    assert [form for _, form, _ in asked["base"]] == forms
    assert len({seed for _, _, seed in asked["base"]}) == 10
    test_titles = {clean_title(r.get("title") or "") for r in read_records(prepared_corpus, "test")}
    assert {title for title, _, _ in asked["base"]} <= test_titles
    assert all(s["text"] for row in generators.values() for s in row["samples"])


@pytest.mark.slow
def test_the_fresh_judge_and_the_critics_are_reported(compared):
    report, _ = compared
    judge = report["variants"]["judge"]
    assert 0.0 <= judge["test_auc"] <= 1.0
    assert 0 < judge["train_real"] == judge["train_fake"] <= 8  # 2 val poems of each form
    assert judge["test_fake"] == 32 and judge["test_real"] > 0  # 近体 only: 8 of each variant
    critics = report["variants"]["critics"]
    assert list(critics) == ["base"]  # the stand-in has no discriminator of its own
    assert 0.0 <= critics["base"]["test_auc"] <= 1.0


@pytest.mark.slow
def test_markdown_has_the_side_by_side_table(compared):
    _, markdown = compared
    assert "| variant | poems | 合律率 conformance | ppl under base | judge realness |" in markdown
    for name in ("base", "reranked", "adversarial"):
        assert f"| {name} | 10/10 | 1.000 |" in markdown
    assert "| real | 10/10 |" in markdown
    assert "held-out AUC" in markdown and "unique first lines (variants)" in markdown
    assert "## 困惑度 Perplexity" in markdown
    assert "### 内容 Content: generated vs real, same titles" in markdown
    assert "| variant | form | n | 合律 | 重字/首 | 有重字 | retrieval@20 |" in markdown
    for name in ("base", "reranked", "adversarial", "real"):
        for form in (*REGULAR_FORMS, "词"):
            assert f"| {name} | {form} | 2 |" in markdown, (name, form)
        assert f"| {name} | 全部 | 10 |" in markdown
    assert "对仗 (律诗)" in markdown and "retrieval@20:" in markdown  # the definitions


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
    assert list(generators) == ["before", "base", "adversarial-run-a", "adversarial-run-b"]
    assert all(row["conform"] == 1.0 for row in generators.values())
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "No `reranked` variant" in markdown and "困惑度" not in markdown


def test_requests_take_the_forms_in_turn_and_cycle_the_titles():
    test = [{"form": "五绝", "title": "春 晓"}, {"form": "七律", "title": "<登高>"}]
    planned = plan_requests(test, 9, seed=5)
    requests = [p.request for p in planned]
    assert [r.form for r in requests] == [*REGULAR_FORMS, *REGULAR_FORMS, "五绝"]
    assert [r.topic for r in requests if r.form == "五绝"] == ["春晓"] * 3
    assert {r.topic for r in requests if r.form == "七律"} == {"登高"}
    assert {r.topic for r in requests if r.form == "七绝"} == {"七绝"}  # no test poem: its name
    assert [p.real for p in planned if p.request.form == "七绝"] == [None, None]
    assert [p.real for p in planned if p.request.form == "五绝"] == [test[0]] * 3
    assert [r.seed for r in requests] == list(range(5, 14))
    assert plan_requests(test, 9, seed=5) == planned


def test_ci_requests_use_test_ci_of_tunes_the_engine_knows():
    ci = [
        {"form": "词", "title": "浣溪沙·春景", "tune": "浣溪沙"},
        {"form": "词", "title": "忆仙姿", "tune": "忆仙姿"},  # the engine's 忆仙姿・如梦令
        {"form": "词", "title": "征部乐", "tune": "征部乐"},  # a tune the engine lacks
        {"form": "词", "title": "无题", "tune": None},
    ]
    test = [{"form": "五绝", "title": "春晓"}, *ci]
    planned = plan_requests(test, 4, seed=0, ci=5)
    assert [p.request for p in plan_requests(test, 4, seed=0)] == [
        p.request for p in planned[:4]
    ]  # adding 词 requests changes none of the 近体 ones
    tail = planned[4:]
    assert len(tail) == 5 and [p.request.seed for p in tail] == list(range(4, 9))
    assert {p.request.form for p in tail} == {"浣溪沙", "忆仙姿・如梦令"}
    assert {p.request.topic for p in tail} == {"浣溪沙·春景", "忆仙姿"}
    assert all(p.real in ci[:2] and known_tune(p.real) == p.request.form for p in tail)
    assert plan_requests([test[0]], 4, seed=0, ci=5)[4:] == []  # no 词 in test: none asked


def test_a_sweep_compares_engine_settings_under_one_judge(tiny_poet, prepared_corpus, tmp_path):
    """`--sweep`: the shipped poet as it is (``base``) and under the settings named, each
    setting reaching the engine, all measured together."""
    from training.adversarial.compare import EngineSettings, Variant, load_variant, read_sweep

    sweep = tmp_path / "sweep.json"
    settings = {
        "wide": {"top_p": 1.0, "critic": 0},
        "many": {"oversample": 3, "repeat": 0.5, "regroup": 0.5},
        "other": {"model": str(tiny_poet)},
    }
    sweep.write_text(json.dumps(settings), encoding="utf-8")
    variants = read_sweep(sweep)
    assert [v.name for v in variants] == ["base", "wide", "many", "other"]
    assert variants[1].critic == 0 and variants[1].engine == EngineSettings(top_p=1.0)
    assert variants[3].path == tiny_poet and variants[0].path == variants[1].path
    many = load_variant(Variant("many", tiny_poet, engine=variants[2].engine), "cpu")
    assert many.oversample == 3 and many.taste.repeat == 0.5 and many.regroup_every == 0.5
    argv = ["eval", "--model", str(tiny_poet), "--corpus", str(prepared_corpus)]
    argv += ["--out", str(tmp_path), "--sweep", str(sweep), "--skip-lm"]
    assert main([*argv, "--compare", "--samples", "4", "--ci-samples", "0"]) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    generators = report["variants"]["generators"]
    assert list(generators) == ["base", "wide", "many", "other"]
    assert all(row["judge_auc"] is not None for row in generators.values())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"x": {"top_k": 5}}', "settings are numbers ≥ 0 of"),
        ('{"x": {"top_p": "high"}}', "settings are numbers ≥ 0 of"),
        ('{"x": {"regroup": -1}}', "settings are numbers ≥ 0 of"),
        ('{"x": {"model": "nowhere"}}', "no checkpoint there"),
        ("[1, 2]", "must map names to settings"),
        ("{not json", "not readable JSON"),
    ],
)
def test_a_bad_sweep_file_is_one_clear_line(bad, message, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    sweep = tmp_path / "sweep.json"
    sweep.write_text(bad, encoding="utf-8")
    argv = ["eval", "--model", str(model), "--compare", "--sweep", str(sweep), "--skip-lm"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "--sweep" in error and "\n" not in error
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "0"], "--samples"),
        (["--ci-samples", "-1"], "--ci-samples"),
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
