"""词牌: each tune's structure, learned from the corpus rather than typed in from a 词谱.

A tune's canonical structure is what most of its poems share:
- the most common sequence of line lengths; each line's closing mark is the majority mark
  among those poems (、 counted as ，) — punctuation varies between editions, lengths do not;
- rhyme sets: lines whose last characters share a rhyme class in more than half of those
  poems, joined transitively. Rhyme classes are 词林正韵 部 (平水韵 groups merged, 上去
  together; both tones of a 部 count), so a tune that changes rhyme (菩萨蛮) gets several sets;
- tones: a position is 平 or 仄 where at least 90% of the poems with a one-tone character
  there agree, else 中.
Checking a 词 against its tune: line count, each line's length, those tones, and one rhyme
class per rhyme set. Repeated rhyme characters are allowed (叠韵 is a device in 词). A poem
with exactly the tune's number of characters is read with the tune's breaks (`align`), and a
tune of two equal 片 also takes one 片 alone (`single_stanza`).

Regenerate the shipped table from the unpacked corpus package:
    python -m yinshi.prosody.cipai data/raw/package/dist
"""

import json
import os
import sys
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from .errors import ProsodyInputError
from .result import Violation
from .rules import EITHER, PING, ZE
from .schemes import Scheme, get_scheme, to_simplified
from .tables import write_rows
from .text import normalize, split_lines, strip_mark

DEFAULT_PATH = Path(__file__).with_name("data") / "cipai.json"
MIN_EXAMPLES = 5
RHYME_SHARE = 0.5
TONE_AGREEMENT = 0.9
_ALIAS_SEPARATORS = "・·"
_NOT_TUNES = {"失调名"}  # the corpus's placeholder for a lost tune name, not a tune


def derive_tunes(
    records: Iterable[dict], min_examples: int = MIN_EXAMPLES, scheme: str = "pingshui"
) -> dict[str, dict]:
    """Tune name → structure, for every tune with at least `min_examples` poems of one shape.

    `records` are corpus ci records: `tune` and `lines` (句 each ending in a full-width mark).
    """
    rhymes = get_scheme(scheme)
    by_tune: dict[str, list[list[str]]] = {}
    for record in records:
        lines = [line.replace("、", "，") for line in record["lines"]]
        if record.get("tune") and record["tune"] not in _NOT_TUNES and lines:
            by_tune.setdefault(record["tune"], []).append(lines)
    tunes = {}
    for name, poems in sorted(by_tune.items()):
        shapes = Counter(tuple(len(strip_mark(line)) for line in poem) for poem in poems)
        lengths, support = shapes.most_common(1)[0]
        if support < min_examples:
            continue
        examples = [poem for poem in poems if _lengths(poem) == lengths]
        tunes[name] = _structure(examples, len(poems), lengths, rhymes, min_examples)
    return tunes


def _lengths(poem: list[str]) -> tuple[int, ...]:
    return tuple(len(strip_mark(line)) for line in poem)


def _structure(
    examples: list[list[str]],
    total: int,
    lengths: tuple[int, ...],
    rhymes: Scheme,
    min_examples: int,
) -> dict:
    """One tune's structure from its poems of the canonical shape (module docstring)."""
    count = len(lengths)
    marks = [Counter(poem[i][-1] for poem in examples).most_common(1)[0][0] for i in range(count)]
    feet = [[rhymes.ci_groups(strip_mark(poem[i])[-1]) for i in range(count)] for poem in examples]
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            both = [(f[i], f[j]) for f in feet if f[i] and f[j]]
            if both and sum(bool(a & b) for a, b in both) > RHYME_SHARE * len(both):
                parent[root(j)] = root(i)
    members: dict[int, list[int]] = {}
    for i in range(count):
        members.setdefault(root(i), []).append(i)
    rhyme_sets = sorted(group for group in members.values() if len(group) > 1)
    rhyme_of = {i: k for k, group in enumerate(rhyme_sets) for i in group}

    lines = []
    for i, length in enumerate(lengths):
        tones = "".join(
            _agreed([strip_mark(poem[i])[j] for poem in examples], rhymes, min_examples)
            for j in range(length)
        )
        lines.append({"length": length, "mark": marks[i], "tones": tones, "rhyme": rhyme_of.get(i)})
    return {"examples": total, "support": len(examples), "lines": lines, "rhymes": rhyme_sets}


def _agreed(chars: list[str], rhymes: Scheme, min_examples: int) -> str:
    votes = Counter(next(iter(t)) for t in map(rhymes.tones, chars) if len(t) == 1)
    total = sum(votes.values())
    for tone in (PING, ZE):
        if total >= min_examples and votes[tone] >= TONE_AGREEMENT * total:
            return tone
    return EITHER


def save_tunes(path: str | os.PathLike, tunes: dict[str, dict]) -> None:
    """Write the table atomically, one tune per line: compact, and a regenerated table diffs
    tune by tune."""
    write_rows(path, {name: tunes[name] for name in sorted(tunes)})


def load_tunes(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """The tune table; the shipped one by default (read once per process)."""
    if path is None:
        return _shipped()
    return json.loads(Path(path).read_text(encoding="utf-8"))


@cache
def _shipped() -> dict[str, dict]:
    return load_tunes(DEFAULT_PATH)


def find_tune(name: str, tunes: dict[str, dict] | None = None) -> tuple[str, dict]:
    """A tune by its name or one of its aliases (望江南・忆江南 answers to both)."""
    tunes = _shipped() if tunes is None else tunes
    name = to_simplified(name.strip())
    if name in tunes:
        return name, tunes[name]
    matches = [full for full in tunes if name in _aliases(full)]
    if matches:
        full = max(matches, key=lambda m: tunes[m]["examples"])
        return full, tunes[full]
    raise ProsodyInputError(f"未收录的词牌：{name} / unknown ci tune (词牌)")


def _aliases(name: str) -> list[str]:
    for separator in _ALIAS_SEPARATORS:
        name = name.replace(separator, " ")
    return name.split()


def align(lines: list[str], tune: dict) -> list[str]:
    """The lines re-cut to the tune's lengths when only the breaks between them differ.

    Editions and users punctuate 词 differently (寂寞梧桐深院锁清秋 as one line or two;
    不应有恨，何事长向别时圆 or 不应有恨何事，长向别时圆), so when the poem has exactly the
    tune's number of characters it is read with the tune's breaks. Otherwise it is left as
    it was, for `check` to report.
    """
    lengths = [spec["length"] for spec in tune["lines"]]
    text = "".join(lines)
    if len(text) != sum(lengths):
        return lines
    out, start = [], 0
    for length in lengths:
        out.append(text[start : start + length])
        start += length
    return out


def single_stanza(tune: dict) -> dict | None:
    """The first 片 of a tune whose two 片 have the same line lengths, else None.

    Such tunes (忆江南, 长相思 …) were also written 单调, one 片 alone (白居易's 忆江南).
    """
    lines = tune["lines"]
    half = len(lines) // 2
    lengths = [spec["length"] for spec in lines]
    if len(lines) % 2 or lengths[:half] != lengths[half:]:
        return None
    rhymes = [[i for i in group if i < half] for group in tune["rhymes"]]
    return {**tune, "lines": lines[:half], "rhymes": [g for g in rhymes if len(g) > 1]}


def check(lines: list[str], tune: dict, rhymes: Scheme) -> list[Violation]:
    """Where a 词 (its lines without marks) departs from its tune."""
    specs = tune["lines"]
    if len(lines) != len(specs):
        return [Violation(0, 0, "lines", f"此调应为{len(specs)}句，今为{len(lines)}句")]
    found = []
    for i, (line, spec) in enumerate(zip(lines, specs, strict=True), 1):
        if len(line) != spec["length"]:
            found.append(Violation(i, 0, "length", f"应为{spec['length']}字，今为{len(line)}字"))
            continue
        for pos, (char, want) in enumerate(zip(line, spec["tones"], strict=True), 1):
            if want == EITHER:
                continue
            tones = rhymes.tones(char)
            if not tones:
                found.append(Violation(i, pos, "unknown_char", f"“{char}”声调未知，此处宜{want}"))
            elif want not in tones:
                found.append(
                    Violation(i, pos, "tone", f"“{char}”宜{want}，今为{next(iter(tones))}")
                )
    for rhyme_set in tune["rhymes"]:
        group, feet = _rhyme_of(lines, rhyme_set, rhymes)
        for i, char, groups in feet:
            if not groups:
                message = f"“{char}”不在韵书中，韵部未知"
                found.append(Violation(i + 1, len(lines[i]), "unknown_char", message))
            elif group not in groups:
                message = f"“{char}”不押{rhymes.ci_group_name(group)}"
                found.append(Violation(i + 1, len(lines[i]), "rhyme", message))
    found.sort(key=lambda v: (v.line, v.pos))
    return found


def main_rhyme(lines: list[str], tune: dict, rhymes: Scheme) -> str | None:
    """The rhyme class of the tune's first rhyme set, as this 词 uses it."""
    if not tune["rhymes"] or len(lines) != len(tune["lines"]):
        return None
    return _rhyme_of(lines, tune["rhymes"][0], rhymes)[0]


def _rhyme_of(
    lines: list[str], rhyme_set: list[int], rhymes: Scheme
) -> tuple[str | None, list[tuple[int, str, frozenset[str]]]]:
    """The rhyme class most of the set's line ends share, and each end's classes."""
    feet = [(i, lines[i][-1], rhymes.ci_groups(lines[i][-1])) for i in rhyme_set if lines[i]]
    votes = Counter(g for _, _, groups in feet for g in groups)
    group = max(sorted(votes), key=votes.__getitem__, default=None)
    return group, feet


def records_from_package(dist: Path) -> list[dict]:
    """Ci records (tune, lines, text) straight from the chinese-poetry package: 宋词 and 五代词.

    Only for regenerating the shipped table; the corpus pipeline builds its own records.
    """
    files = sorted((dist / "songci").glob("ci.song.*.json"))
    files += sorted((dist / "wudaishici").glob("*/*juan.json"))
    files += [dist / "wudaishici" / "nantang" / "poetrys.json"]
    records = []
    for file in files:
        for poem in json.loads(file.read_text(encoding="utf-8")):
            text = normalize(to_simplified("".join(poem.get("paragraphs", []))))
            if poem.get("rhythmic") and text:
                records.append({"tune": poem["rhythmic"], "lines": split_lines(text), "text": text})
    return records


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m yinshi.prosody.cipai DIST_DIR", file=sys.stderr)
        return 2
    tunes = derive_tunes(records_from_package(Path(argv[0])))
    save_tunes(DEFAULT_PATH, tunes)
    print(f"{len(tunes)} tunes → {DEFAULT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
