"""``yinshi corpus prepare``: raw package → cleaned, simplified, classified, deduplicated splits.

Output (in ``out``): ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (one record per work, see
``build_record``), ``stats.json`` and, when the 词牌 module is importable, ``cipai.json``.
Every file is written to a temporary name first and renamed into place only once all of them
are complete, so a failed run leaves the previous corpus intact.
"""

import json
import os
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from functools import cache, partial
from multiprocessing.pool import Pool
from pathlib import Path

from tqdm import tqdm

from training.corpus import prosody_checks
from training.corpus.clean import clean_body, clean_title
from training.corpus.sources import TRADITIONAL_SOURCES, RawWork, read, source_files
from training.corpus.split import SPLITS, split_of
from yinshi.errors import UserError
from yinshi.prosody.cipai import derive_tunes, save_tunes
from yinshi.prosody.forms import REGULAR_FORMS, form_from_shape
from yinshi.prosody.text import LINE_END, split_lines, strip_mark

_SHI_SHAPES = frozenset({*REGULAR_FORMS, "排律", "五古", "七古"})


def classify(work: RawWork, text: str) -> tuple[str, str | None]:
    """(form, tune) of a cleaned body; for ``maybe_ci`` provisional, see ``settle_maybe_ci``."""
    if work.kind == "ci":
        return "词", work.tune
    if work.kind == "qu":
        return "曲", work.tune
    if work.kind == "classic":
        return "其他", None
    shape = form_from_shape(text)
    return shape, work.tune if work.kind == "maybe_ci" else None


def settle_maybe_ci(record: dict, ci_tunes: set[str]) -> None:
    """Decide whether a 纳兰性德 ``X·Y`` work is a 词 to the tune X or a poem titled X.

    A 词 when X is a tune already seen in the 词 collections, or when the body is not shaped
    like a poem in 5- or 7-character lines (an unseen alias such as 于中好).
    """
    if record["tune"] in ci_tunes or record["form"] not in _SHI_SHAPES:
        record["form"] = "词"
    else:
        record["tune"] = None


@cache
def _t2s():
    """One OpenCC converter per process (worker processes build their own)."""
    import opencc

    return opencc.OpenCC("t2s").convert


def build_record(work: RawWork) -> tuple[dict, None] | tuple[None, str]:
    """``(record, None)`` or ``(None, reason dropped)``.

    Every source goes through OpenCC t2s, the simplified ones too: they carry stray traditional
    characters (後, 濛), and one spelling per character keeps the vocabulary small.
    ``text_trad`` is the cleaned original for traditional sources and null for the others.
    """
    original, reason = clean_body(work.paragraphs)
    if original is None:
        return None, reason
    to_simplified = _t2s()
    text = to_simplified(original)
    form, tune = classify(work, text)
    record = {
        "id": work.id,
        "source": work.source,
        "dynasty": work.dynasty,
        "author": to_simplified(clean_title(work.author)),
        "title": to_simplified(clean_title(work.title)),
        "form": form,
        "tune": to_simplified(tune) if tune else None,
        "lines": split_lines(text),
        "text": text,
        "text_trad": original if work.source in TRADITIONAL_SOURCES else None,
    }
    return record, None


def _build_file(item: tuple[str, Path]) -> list[tuple[dict | None, str]]:
    """Every work of one file as (record, kind) or (None, reason dropped)."""
    source, path = item
    built = []
    for work in read(source, path):
        record, reason = build_record(work)
        built.append((record, work.kind) if record is not None else (None, reason))
    return built


def _refine_pailu(records: list[dict], results: list[bool | None]) -> None:
    """A 排律 that breaks 粘 or 对 is a 古体 poem in regular line lengths."""
    for record, keeps in zip(records, results, strict=True):
        if record["form"] == "排律" and keeps is False:
            length = len(strip_mark(record["lines"][0]))
            record["form"] = "五古" if length == 5 else "七古"


def compute_stats(splits: dict[str, list[dict]], dropped: Counter, duplicates: Counter) -> dict:
    """Counts per split/source/form, characters and tunes, from the records written."""
    by_source: Counter = Counter()
    by_form: Counter = Counter()
    by_source_form: dict[str, Counter] = {}
    tunes: Counter = Counter()
    qu_tunes: set[str] = set()
    chars_total = 0
    distinct: set[str] = set()
    for records in splits.values():
        for r in records:
            by_source[r["source"]] += 1
            by_form[r["form"]] += 1
            by_source_form.setdefault(r["source"], Counter())[r["form"]] += 1
            if r["form"] == "词":
                tunes[r["tune"]] += 1
            elif r["form"] == "曲" and r["tune"]:
                qu_tunes.add(r["tune"])
            chars_total += len(r["text"]) - len(r["lines"])  # a body is 句 of Han + one mark
            distinct.update(r["text"])
    return {
        "records": sum(len(records) for records in splits.values()),
        "by_split": {name: len(records) for name, records in splits.items()},
        "by_source": dict(by_source.most_common()),
        "by_form": dict(by_form.most_common()),
        "by_source_form": {s: dict(c.most_common()) for s, c in by_source_form.items()},
        "chars_total": chars_total,
        "chars_distinct": len(distinct.difference(LINE_END)),
        "ci_tunes": len(tunes),
        "ci_tunes_with_5": sum(n >= 5 for n in tunes.values()),
        "qu_tunes": len(qu_tunes),
        "dropped": dict(dropped.most_common()),
        "duplicates": dict(duplicates.most_common()),
    }


def _temp_path(out: Path, name: str) -> Path:
    handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    os.close(handle)
    os.chmod(temp, 0o644)  # mkstemp makes it private; the corpus is for every local user
    return Path(temp)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _pool_map(pool: Pool | None):
    """``imap`` over the pool, in order; the plain ``map`` when running in one process."""
    return partial(pool.imap, chunksize=1) if pool else map


def prepare(raw: Path, out: Path, jobs: int = 2, progress: bool = True) -> dict:
    """Read every source, write the corpus to ``out``; return the stats written to stats.json."""
    started = time.perf_counter()
    files = source_files(raw)
    bar = partial(tqdm, disable=not progress, leave=False, mininterval=1.0)
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    seen: set[str] = set()
    ci_tunes: set[str] = set()
    dropped: Counter = Counter()
    duplicates: Counter = Counter()
    with Pool(jobs) if jobs > 1 else nullcontext() as pool:
        built_files = bar(_pool_map(pool)(_build_file, files), desc="read", total=len(files))
        for (source, _), built in zip(files, built_files, strict=True):
            for record, kind_or_reason in built:
                if record is None:
                    dropped[kind_or_reason] += 1
                    continue
                if kind_or_reason == "maybe_ci":
                    settle_maybe_ci(record, ci_tunes)
                if record["text"] in seen:  # the first by source priority (SOURCES) wins
                    duplicates[source] += 1
                    continue
                seen.add(record["text"])
                if record["form"] == "词":
                    ci_tunes.add(record["tune"])
                splits[split_of(record["text"])].append(record)

        regular = {*REGULAR_FORMS, "排律"}
        checked = [r for records in splits.values() for r in records if r["form"] in regular]
        results = prosody_checks.check_all(
            [(r["text"], r["form"]) for r in checked],
            pool,
            partial(bar, desc="格律", unit="poem"),
        )
    _refine_pailu(checked, results)
    stats = compute_stats(splits, dropped, duplicates)
    stats["conformance"] = prosody_checks.conformance(
        (r["form"], ok)
        for r, ok in zip(checked, results, strict=True)
        if r["form"] in REGULAR_FORMS
    )
    _write_outputs(out, splits, stats, started)
    return stats


def _write_outputs(out: Path, splits: dict[str, list[dict]], stats: dict, started: float) -> None:
    """Stage every file under a temporary name, then rename them all into place."""
    staged: list[tuple[Path, Path]] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, records in splits.items():
            temp = _temp_path(out, f"{name}.jsonl")
            staged.append((temp, out / f"{name}.jsonl"))
            _write_jsonl(temp, records)
        ci = [r for r in splits["train"] if r["form"] == "词"]
        temp = _temp_path(out, "cipai.json")
        staged.append((temp, out / "cipai.json"))
        save_tunes(temp, derive_tunes(ci))
        stats["cipai"] = "cipai.json"
        stats["wall_seconds"] = round(time.perf_counter() - started, 1)
        temp = _temp_path(out, "stats.json")
        staged.append((temp, out / "stats.json"))
        _write_json(temp, stats)
        for temp, final in staged:
            os.replace(temp, final)
    except BaseException as error:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise UserError(f"cannot write the corpus to {out}: {error}") from None
        raise


def load_stats(corpus: Path) -> dict:
    path = corpus / "stats.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no corpus stats at {path} (run `yinshi corpus prepare` first)") from None
    except ValueError as error:
        raise UserError(f"corrupt corpus stats {path}: {error}") from None
