"""`prepare` on the fixture package: records, forms, cleaning, dedup, splits, stats."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from training.corpus.prepare import prepare
from training.corpus.sources import read, source_files
from training.corpus.split import SPLITS, split_of
from yinshi.cli import main
from yinshi.prosody.forms import FORMS
from yinshi.prosody.text import LINE_END, split_lines

FIELDS = {
    "id",
    "source",
    "dynasty",
    "author",
    "title",
    "form",
    "tune",
    "lines",
    "text",
    "text_trad",
}


def read_split(corpus: Path, name: str) -> list[dict]:
    with (corpus / f"{name}.jsonl").open(encoding="utf-8") as file:
        return [json.loads(line) for line in file]


@pytest.fixture(scope="module")
def splits(prepared_corpus) -> dict[str, list[dict]]:
    return {name: read_split(prepared_corpus, name) for name in SPLITS}


@pytest.fixture(scope="module")
def records(splits) -> list[dict]:
    return [record for name in SPLITS for record in splits[name]]


def raw_works(fixture_raw: Path, relative: str) -> list[dict]:
    return json.loads((fixture_raw / "dist" / relative).read_text(encoding="utf-8"))


def test_every_split_has_records_with_every_field(splits):
    for name in SPLITS:
        assert splits[name], name
        for record in splits[name]:
            assert set(record) == FIELDS
            assert record["form"] in FORMS
            assert record["text"] == "".join(record["lines"])
            assert record["lines"] == split_lines(record["text"])
            assert all(line[-1] in LINE_END for line in record["lines"])
            if record["form"] == "词":
                assert record["tune"]
            elif record["form"] != "曲":
                assert record["tune"] is None


def test_ids_are_unique_and_name_their_source(records):
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids))
    assert all(record["id"].startswith(record["source"] + ":") for record in records)


@pytest.mark.parametrize(
    ("start", "form", "author"),
    [
        ("国破山河在", "五律", "杜甫"),
        ("空山新雨后", "五律", "王维"),
        ("月落乌啼霜满天", "七绝", "张继"),
        ("朝辞白帝彩云间", "七绝", "李白"),
        ("春眠不觉晓", "五绝", "孟浩然"),
        ("昔人已乘白云去", "七律", "崔颢"),
    ],
)
def test_known_poems_get_their_form(records, start, form, author):
    (record,) = [r for r in records if r["text"].startswith(start)]
    assert (record["form"], record["author"], record["dynasty"]) == (form, author, "唐")


def test_ci_qu_and_classics_get_their_form(records):
    forms = Counter((r["source"], r["form"]) for r in records)
    assert forms[("songci", "词")] >= 30
    assert all(r["form"] == "曲" for r in records if r["source"] == "yuanqu")
    for source in ("shijing", "chuci", "lunyu", "sishuwujing"):
        assert {r["form"] for r in records if r["source"] == source} == {"其他"}
    tunes = Counter(r["tune"] for r in records if r["form"] == "词")
    assert sum(n >= 5 for n in tunes.values()) >= 4


def test_nalan_titles_tell_ci_from_shi(records):
    nalan = {r["title"]: r for r in records if r["source"] == "nalanxingde"}
    assert (nalan["浣溪沙·谁念西风独自凉"]["form"], nalan["浣溪沙·谁念西风独自凉"]["tune"]) == (
        "词",
        "浣溪沙",
    )
    assert nalan["于中好·独背残阳上小楼"]["form"] == "词"  # an alias unseen in 宋词, shaped as 词
    assert nalan["秣陵怀古"]["form"] != "词"


def test_bodies_titles_and_authors_are_simplified_and_the_original_kept(records):
    (record,) = [r for r in records if r["text"].startswith("国破山河在")]
    assert record["text_trad"].startswith("國破山河在，城春草木深。")
    assert "书" in record["text"] and "書" not in record["text"]
    assert all(r["text_trad"] is None for r in records if r["source"] == "songci")
    (zhu,) = [r for r in records if r["author"] == "朱斌"]  # 登樓 in the package
    assert zhu["title"] == "登楼"


def test_cleaning_cut_notes_and_dropped_broken_works(records, prepared_corpus, fixture_raw):
    texts = "".join(r["text"] for r in records)
    assert "阑风长雨秋纷纷，四海八荒同一云。去马来牛不复辨，浊泾清渭何当分。" in texts
    for fragment in ("（", "一作", "□", "囗", "ff", "诗题", "黄钟为角一奏"):
        assert fragment not in texts
    dropped = json.loads((prepared_corpus / "stats.json").read_text(encoding="utf-8"))["dropped"]
    assert dropped["placeholder"] >= 3
    assert {"non_cjk", "unencodable", "empty", "title_only", "unbalanced_note"} <= set(dropped)
    raw_ids = {w["id"] for w in raw_works(fixture_raw, "quantangshi/poet.tang.0.json")}
    assert "fixture-empty-0001" in raw_ids
    assert "tangshi:fixture-empty-0001" not in {r["id"] for r in records}


def test_duplicates_are_dropped_keeping_the_first_by_source_priority(records):
    dengguan = [
        r for r in records if r["text"] == "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
    ]
    assert [(r["source"], r["author"]) for r in dengguan] == [("tangshi", "朱斌")]
    texts = Counter(r["text"] for r in records)
    assert texts.most_common(1)[0][1] == 1


def test_a_body_is_in_the_split_its_hash_says(splits):
    for name in SPLITS:
        assert all(split_of(record["text"]) == name for record in splits[name])


def test_stats_match_the_records(prepared_corpus, fixture_raw, records, splits):
    stats = json.loads((prepared_corpus / "stats.json").read_text(encoding="utf-8"))
    assert stats["records"] == len(records)
    assert stats["by_split"] == {name: len(splits[name]) for name in SPLITS}
    assert stats["by_source"] == dict(Counter(r["source"] for r in records))
    assert stats["by_form"] == dict(Counter(r["form"] for r in records))
    han = [c for r in records for c in r["text"] if c not in LINE_END]
    assert (stats["chars_total"], stats["chars_distinct"]) == (len(han), len(set(han)))
    assert stats["ci_tunes"] == len({r["tune"] for r in records if r["form"] == "词"})
    works = sum(1 for source, path in source_files(fixture_raw) for _ in read(source, path))
    dropped, duplicates = sum(stats["dropped"].values()), sum(stats["duplicates"].values())
    assert works == len(records) + dropped + duplicates
    assert duplicates >= 2  # 登鹳雀楼: 王之涣's copy in 全唐诗, and 千家诗's


def test_conformance_and_pailu_refinement_use_the_engine(prepared_corpus, records):
    stats = json.loads((prepared_corpus / "stats.json").read_text(encoding="utf-8"))
    conformance = stats["conformance"]
    for form in ("五绝", "七绝", "五律", "七律"):
        row = conformance[form]
        assert row["poems"] == sum(r["form"] == form for r in records)
        assert 0 < row["conforming"] <= row["poems"]
    (changhen,) = [r for r in records if r["text"].startswith("汉皇重色思倾国")]
    assert changhen["form"] == "七古"  # 120 lines of 7, shaped like 排律, but no 粘/对
    assert (prepared_corpus / "cipai.json").is_file()


def test_two_runs_write_identical_files(prepared_corpus, fixture_raw, tmp_path):
    prepare(fixture_raw, tmp_path, jobs=2, progress=False)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "cipai.json"):
        if (prepared_corpus / name).exists():
            assert (tmp_path / name).read_bytes() == (prepared_corpus / name).read_bytes(), name
    first, second = (
        json.loads((d / "stats.json").read_text()) for d in (prepared_corpus, tmp_path)
    )
    first.pop("wall_seconds"), second.pop("wall_seconds")
    assert first == second


def test_stats_command(prepared_corpus, capsys):
    assert main(["corpus", "stats", "--corpus", str(prepared_corpus)]) == 0
    out = capsys.readouterr().out
    assert "体裁 forms:" in out and "七绝" in out
    assert main(["corpus", "stats", "--corpus", str(prepared_corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] > 0


@pytest.fixture
def raw_copy(fixture_raw, tmp_path) -> Path:
    copy = tmp_path / "package"
    shutil.copytree(fixture_raw, copy)
    return copy


def run_prepare(raw: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(["corpus", "prepare", "--raw", str(raw), "--out", str(out), "--jobs", "1"])
    return code, capsys.readouterr().err


def test_missing_source_file_is_named(raw_copy, tmp_path, capsys):
    (raw_copy / "dist/shijing/shijing.json").unlink()
    code, err = run_prepare(raw_copy, tmp_path / "out", capsys)
    assert code == 2
    assert "shijing.json" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_corrupt_source_file_is_named_and_old_corpus_kept(raw_copy, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_prepare(raw_copy, out, capsys)[0] == 0
    before = (out / "train.jsonl").read_bytes()
    (raw_copy / "dist/yuanqu/yuanqu.json").write_text('[{"title": "红绣鞋", "paragr', "utf-8")
    code, err = run_prepare(raw_copy, out, capsys)
    assert code == 2 and "yuanqu.json" in err
    assert (out / "train.jsonl").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_wrong_shape_and_missing_package(raw_copy, tmp_path, capsys):
    (raw_copy / "dist/chuci/chuci.json").write_text('{"title": "离骚", "content": 3}', "utf-8")
    code, err = run_prepare(raw_copy, tmp_path / "out", capsys)
    assert code == 2 and "chuci.json" in err
    code, err = run_prepare(tmp_path / "nowhere", tmp_path / "out", capsys)
    assert code == 2 and "nowhere" in err


def test_unwritable_output_and_bad_jobs_are_one_line_errors(fixture_raw, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_prepare(fixture_raw, blocker / "corpus", capsys)
    assert code == 2 and "cannot write the corpus" in err and err.count("\n") == 1
    assert main(["corpus", "prepare", "--raw", str(fixture_raw), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
