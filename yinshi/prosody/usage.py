"""How real poets use characters: corpus counts, and the weights the generator derives from them.

The scheme tables keep every reading of a polyphone, and the analyser rightly accepts any of
them. A generator should do the reverse and prefer the reading poets actually use: 看 stands
at a fixed 平 position far more often than at a fixed 仄 one, and 还 rhymes in 十五删, hardly
ever in 一先. Likewise 不 而 亦 rarely end a line, though nothing in the rules forbids it.

`training/corpus/usage.py` counts these from the corpus (``yinshi corpus usage``) into
``data/usage.json``; this module reads that file and turns counts into weights in [0, 1] for
the decoder to multiply into its 0/1 masks. Every weight is 1.0 where there is no data, so a
missing file changes nothing. Torch-free, like the rest of `yinshi.prosody`.

The file (JSON, written by the derivation):
- ``scheme``: the scheme the tone and rhyme counts were read under ("pingshui");
- ``corpus``: which corpus and split, its sha256, how many poems each count used;
- ``lines``: ``{"shi": [line ends, characters], "ci": [...]}``, the corpus-wide totals;
- ``tones``: ``{char: [平, 仄]}`` for tone polyphones: how often the character stands, in a
  conforming 近体 poem, at a position where the rules leave it only that tone;
- ``rhymes``: ``{char: {group: count}}`` for characters with several 平声 groups: how often it
  is a rhyme character of a poem rhyming in that group;
- ``ends``: ``{char: [shi ends, shi total, ci ends, ci total]}``: how often the character ends
  a 句, and how often it occurs at all, in shi (近体 and 古体) and in 词.
"""

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .tables import write_rows

DEFAULT_PATH = Path(__file__).with_name("data") / "usage.json"
FORMAT = 1

PRIOR = 2.0
"""Pseudo-count added to both sides of a reading's ratio: a character seen once in one reading
and never in the other is not yet condemned in the other (weight 2/3)."""
FLOOR = 0.02
"""No existing reading weighs less: rare is not wrong, and a mask must never go empty."""
END_PRIOR = 20.0
"""Pseudo-occurrences at the corpus-wide line-end rate, shrinking rare characters toward 1."""
END_FULL = 0.75
"""A character ending lines at least this fraction of the average rate gets end weight 1. At
one half, 词 still ended lines in 与 何 如 more often than real 词 (0.014 of line ends against
0.011, `yinshi eval --compare`); at three quarters they weigh 0.2–0.4, 花 风 stay 1."""
END_KINDS = ("shi", "ci", "all")


@dataclass(frozen=True)
class Usage:
    """The corpus counts, with the weights derived from them (module docstring)."""

    scheme: str = "pingshui"
    tones: dict[str, tuple[int, int]] = field(default_factory=dict)
    rhymes: dict[str, dict[str, int]] = field(default_factory=dict)
    ends: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)
    corpus: dict = field(default_factory=dict)

    def tone_weight(self, char: str, tone: str) -> float:
        """How acceptable `char` read in `tone` (平/仄) is, relative to its more used reading.

        (count + PRIOR) / (max count + PRIOR), at least FLOOR; 1.0 without data. Whether the
        reading exists at all is the scheme's business: the caller multiplies by that.
        """
        counts = self.tones.get(char)
        if counts is None:
            return 1.0
        return _relative(counts[0 if tone == "平" else 1], max(counts))

    def group_weight(self, char: str, group: str) -> float:
        """The same relative weight for rhyming `char` in 平声 `group`; 1.0 without data."""
        counts = self.rhymes.get(char)
        if counts is None:
            return 1.0
        return _relative(counts.get(group, 0), max(counts.values(), default=0))

    def end_weight(self, char: str, kind: str = "all") -> float:
        """How natural `char` is at the end of a 句, in (0, 1] (FLOOR at the least).

        r = P(end | char) / P(end), the end rate shrunk toward the average by END_PRIOR
        pseudo-occurrences, then min(1, r / END_FULL): characters that end lines at least three
        quarters as often as the average character get 1, 而 不 亦 (r near 0) get little. `kind`:
        counts from shi, from 词, or both ("all"). 1.0 without data.
        """
        counts = self.ends.get(char)
        rate = self._end_rate(kind)
        if counts is None or rate is None:
            return 1.0
        return _end_weight(*_pick(counts, kind), rate)

    def end_weights(self, kind: str = "all") -> dict[str, float]:
        """`end_weight` of every character with data, in one pass (tables are built at start)."""
        rate = self._end_rate(kind)
        if rate is None:
            return {}
        return {char: _end_weight(*_pick(n, kind), rate) for char, n in self.ends.items()}

    def _end_rate(self, kind: str) -> float | None:
        if kind not in END_KINDS:
            raise ValueError(f"end kind is one of {', '.join(END_KINDS)}, not {kind!r}")
        shi, ci = self.lines.get("shi", (0, 0)), self.lines.get("ci", (0, 0))
        ends, seen = {"shi": shi, "ci": ci, "all": (shi[0] + ci[0], shi[1] + ci[1])}[kind]
        return ends / seen if ends else None


NO_USAGE = Usage()
"""All weights 1.0: what the generator uses without a usage file."""


def _relative(count: int, best: int) -> float:
    return max(FLOOR, (count + PRIOR) / (best + PRIOR))


def _end_weight(ends: int, seen: int, rate: float) -> float:
    ratio = (ends + END_PRIOR * rate) / (seen + END_PRIOR) / rate
    return max(FLOOR, min(1.0, ratio / END_FULL))


def _pick(counts: tuple[int, int, int, int], kind: str) -> tuple[int, int]:
    if kind == "shi":
        return counts[0], counts[1]
    if kind == "ci":
        return counts[2], counts[3]
    return counts[0] + counts[2], counts[1] + counts[3]


def from_dict(data: dict) -> Usage:
    """A `Usage` from the file's JSON object; a format it does not know is an error."""
    if data.get("format") != FORMAT:
        raise ValueError(f"usage data format {data.get('format')!r}, expected {FORMAT}")
    return Usage(
        scheme=data["scheme"],
        tones={c: (int(p), int(z)) for c, (p, z) in data["tones"].items()},
        rhymes={c: dict(groups) for c, groups in data["rhymes"].items()},
        ends={c: tuple(map(int, counts)) for c, counts in data["ends"].items()},
        lines={kind: (int(e), int(n)) for kind, (e, n) in data["lines"].items()},
        corpus=data.get("corpus", {}),
    )


def to_dict(usage: Usage) -> dict:
    return {
        "format": FORMAT,
        "scheme": usage.scheme,
        "corpus": usage.corpus,
        "lines": {kind: list(counts) for kind, counts in usage.lines.items()},
        "tones": {c: list(counts) for c, counts in usage.tones.items()},
        "rhymes": usage.rhymes,
        "ends": {c: list(counts) for c, counts in usage.ends.items()},
    }


def load_usage(path: str | os.PathLike | None = None) -> Usage:
    """The usage data; the shipped file by default (read once per process), NO_USAGE without it."""
    if path is None:
        return _shipped()
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def _shipped() -> Usage:
    return load_usage(DEFAULT_PATH) if DEFAULT_PATH.exists() else NO_USAGE


def save_usage(path: str | os.PathLike, usage: Usage) -> None:
    """Write atomically: a worker starting meanwhile never reads half a file. Compact JSON, one
    top-level key per line, so the file stays small and diffs by section."""
    write_rows(path, to_dict(usage), compact=True)
