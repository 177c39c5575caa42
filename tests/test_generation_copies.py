"""The training-line set: a Bloom filter that never misses a copy, saved, rebuilt from a split."""

import json

from model.generation.copies import FILE_NAME, MIN_CHARS, LineSet, write_line_set


def test_membership_is_exact_for_lines_long_enough():
    lines = LineSet.from_lines(["白日依山尽", "黄河入海流", "白日依山尽", "知否"])
    assert "白日依山尽" in lines and "黄河入海流" in lines
    assert "白日依山近" not in lines and "黄河入海" not in lines
    assert len(lines) == 2  # duplicates and short lines are not stored
    assert "知否" not in lines and len("知否") < MIN_CHARS


def test_saved_set_is_small_loads_the_same_and_rarely_errs(tmp_path):
    stored = [f"第{i}句诗在此" for i in range(5000)]
    lines = LineSet.from_lines(stored)
    path = tmp_path / "lines.bin"
    lines.save(path)
    assert path.stat().st_size < 2 * len(lines)  # ~10 bits a line, not 8 bytes
    loaded = LineSet.load(path)
    assert len(loaded) == 5000 and all(line in loaded for line in stored)
    false_hits = sum(f"第{i}句诗不在" in loaded for i in range(5000))
    assert false_hits < 5000 * 0.02


def test_built_from_the_training_split(prepared_corpus, tmp_path):
    path = write_line_set(prepared_corpus / "train.jsonl", tmp_path)
    assert path == tmp_path / FILE_NAME
    lines = LineSet.load(path)
    with (prepared_corpus / "train.jsonl").open(encoding="utf-8") as rows:
        record = json.loads(next(rows))
    long_lines = [line[:-1] for line in record["lines"] if len(line) > MIN_CHARS]
    assert long_lines and all(line in lines for line in long_lines)
