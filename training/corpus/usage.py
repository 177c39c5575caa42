"""``yinshi corpus usage``: count how real poets use polyphones and line ends (→ usage.json).

From the train split only (val and test stay unseen):
- 近体 poems (五绝 七绝 五律 七律 排律) that conform under 平水韵: at every position whose tone
  the rules fix — the 2nd/4th/6th character, the rhyme, the 仄 end of a line that does not
  rhyme — a tone polyphone is counted in the tone the line leaves it. The tone must be forced:
  every fault-free reading of the line (拗句 and 拗救 included) gives that position the same
  tone, so a 特拗 line or a 大拗 rescued by the next line is not miscounted. Line 1's last
  character is skipped when it is a tone polyphone: whether it rhymes (首句入韵) is then the
  analyser's guess, not the poet's evidence.
- The rhyme characters of those poems: for a character with several 平声 groups, the group
  the poem rhymes in.
- Every shi (近体 and 古体) and 词: per character, how often it ends a 句 and how often it
  occurs. 曲 and the classics (其他: 诗经, 论语 …) are left out: their lines are not verse lines
  the generator writes.
What the counts become is `yinshi.prosody.usage`.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache
from multiprocessing.pool import Pool
from pathlib import Path

from yinshi.errors import UserError
from yinshi.prosody import ProsodyInputError, Scheme, analyze, get_scheme
from yinshi.prosody.forms import REGULAR_FORMS
from yinshi.prosody.rules import PING, WARNING_KINDS, ZE, faults, line_pattern
from yinshi.prosody.text import is_cjk, strip_mark
from yinshi.prosody.usage import DEFAULT_PATH, Usage, save_usage

JINTI = (*REGULAR_FORMS, "排律")
SHI = (*JINTI, "五古", "七古", "杂言")
SCHEME = "pingshui"
MIN_OCCURRENCES = 3
"""Characters seen fewer times get no end counts stored: the prior would swamp them anyway."""
_CHUNK = 512


@dataclass
class Counts:
    """What one pass over some poems found; counts from several passes add up (`add`)."""

    tones: dict[str, Counter] = field(default_factory=dict)
    """char → Counter({平: n, 仄: m}) at forced positions."""
    rhymes: dict[str, Counter] = field(default_factory=dict)
    """char → Counter({group: n}) as a rhyme character."""
    ends: dict[str, Counter] = field(default_factory=dict)
    """"shi" / "ci" → Counter of characters ending a 句."""
    seen: dict[str, Counter] = field(default_factory=dict)
    """"shi" / "ci" → Counter of every character."""
    poems: Counter = field(default_factory=Counter)
    """jinti (analysed), jinti_conforming, shi, ci."""

    def add(self, other: "Counts") -> None:
        for mine, theirs in ((self.tones, other.tones), (self.rhymes, other.rhymes),
                             (self.ends, other.ends), (self.seen, other.seen)):  # fmt: skip
            for key, counter in theirs.items():
                mine.setdefault(key, Counter()).update(counter)
        self.poems.update(other.poems)


def count_poems(items: Iterable[tuple[str, list[str]]]) -> Counts:
    """Counts over (form, lines) pairs: a corpus record's ``form`` and ``lines``."""
    scheme = get_scheme(SCHEME)
    counts = Counts()
    for form, lines in items:
        if form == "词":
            kind = "ci"
        elif form in SHI:
            kind = "shi"
        else:
            continue
        counts.poems[kind] += 1
        _count_ends(counts, kind, lines)
        if form in JINTI:
            counts.poems["jinti"] += 1
            if _count_jinti(counts, form, "".join(lines), scheme):
                counts.poems["jinti_conforming"] += 1
    return counts


def _count_ends(counts: Counts, kind: str, lines: list[str]) -> None:
    ends = counts.ends.setdefault(kind, Counter())
    seen = counts.seen.setdefault(kind, Counter())
    for line in lines:
        chars = strip_mark(line)
        if chars:
            ends[chars[-1]] += 1
            seen.update(chars)


def _count_jinti(counts: Counts, form: str, text: str, scheme: Scheme) -> bool:
    """Tone and rhyme counts of one 近体 poem; False (nothing counted) unless it conforms."""
    try:
        result = analyze(text, form=form, scheme=SCHEME)
    except ProsodyInputError:
        return False
    if not result.conforms or result.rules != "jinti" or not result.patterns:
        return False
    lines = result.lines
    signatures = [scheme.signature(line) for line in lines]
    n = len(lines[0])
    first_rhymes = result.template is not None and result.template.endswith("首句入韵")
    group = result.rhyme_group
    for i, (line, signature, loose) in enumerate(
        zip(lines, signatures, result.patterns, strict=True)
    ):
        base = line_pattern(n, loose[1], loose[-1])
        rescued = i + 1 < len(lines) and signatures[i + 1][n - 3] in "pbu"
        forced = _forced_tones(base, signature, rescued)
        for j in range(1, n - 1, 2):
            if signature[j] == "b" and forced[j] is not None:
                counts.tones.setdefault(line[j], Counter())[forced[j]] += 1
        rhymes = i % 2 == 1 or (i == 0 and first_rhymes)
        last = line[-1]
        if i == 0 and signature[-1] == "b" and rhymes:
            continue  # 首句入韵 or not is the analyser's tie-break for a polyphone
        if signature[-1] == "b":
            counts.tones.setdefault(last, Counter())[PING if rhymes else ZE] += 1
        groups = scheme.groups_of(last, PING)
        if rhymes and group in groups and len(groups) > 1:
            counts.rhymes.setdefault(last, Counter())[group] += 1
    return True


_CHOICES = {"p": (PING,), "z": (ZE,), "b": (PING, ZE), "u": (PING, ZE)}


@cache
def _forced_tones(base: str, signature: str, rescued: bool) -> tuple[str | None, ...]:
    """Per position (but the last), the one tone every fault-free reading of the line gives it,
    or None where readings differ. Warnings (三仄尾) are no faults here, as in the analyser."""
    found: list[set[str]] = [set() for _ in range(len(base) - 1)]
    for tones in _readings(signature[:-1]):
        full = tones + base[-1]
        if all(kind in WARNING_KINDS for _, kind in faults(base, full, rescued)):
            for j, tone in enumerate(tones):
                found[j].add(tone)
    return tuple(next(iter(tones)) if len(tones) == 1 else None for tones in found)


def _readings(signature: str) -> Iterator[str]:
    if not signature:
        yield ""
        return
    for head in _readings(signature[:-1]):
        for tone in _CHOICES[signature[-1]]:
            yield head + tone


def read_train(corpus: Path) -> tuple[list[tuple[str, list[str]]], str]:
    """(form, lines) of every train record, and the sha256 of train.jsonl."""
    path = corpus / "train.jsonl"
    digest = hashlib.sha256()
    items = []
    try:
        with path.open("rb") as file:
            for raw in file:
                digest.update(raw)
                record = json.loads(raw)
                items.append((record["form"], record["lines"]))
    except FileNotFoundError:
        raise UserError(f"no train split at {path} (run `yinshi corpus prepare` first)") from None
    return items, digest.hexdigest()


def _say(message: str) -> None:
    print(message, flush=True)  # a long run's progress, visible also when piped to a log


def derive(
    corpus: Path, jobs: int = 1, progress: Callable[[str], None] = _say
) -> tuple[Usage, dict]:
    """Count the train split of `corpus`; the usage data and a few timings for the report."""
    started = time.perf_counter()
    items, sha = read_train(corpus)
    read_s = time.perf_counter() - started
    progress(f"read {len(items)} records in {read_s:.1f} s")
    chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    total = Counts()
    with Pool(jobs) if jobs > 1 else nullcontext() as pool:
        results = pool.imap_unordered(count_poems, chunks) if pool else map(count_poems, chunks)
        for done, counts in enumerate(results, 1):
            total.add(counts)
            if done % 50 == 0 or done == len(chunks):
                elapsed = time.perf_counter() - started
                progress(f"{done}/{len(chunks)} chunks, {elapsed:.0f} s")
    usage = to_usage(total, {"split": "train", "sha256": sha, "records": len(items)})
    return usage, {"read_s": round(read_s, 1), "total_s": round(time.perf_counter() - started, 1)}


def to_usage(counts: Counts, corpus: dict) -> Usage:
    """Keep what the weights need: tone counts of tone polyphones, rhyme counts of characters
    with several 平声 groups, end counts of Han characters seen MIN_OCCURRENCES times."""
    scheme = get_scheme(SCHEME)
    tones = {
        c: (n[PING], n[ZE])
        for c, n in sorted(counts.tones.items())
        if len(scheme.tones(c)) == 2 and n.total()
    }
    rhymes = {
        c: dict(sorted(n.items(), key=lambda item: scheme.order[item[0]]))
        for c, n in sorted(counts.rhymes.items())
        if n.total()
    }
    shi_end, shi_seen = counts.ends.get("shi", Counter()), counts.seen.get("shi", Counter())
    ci_end, ci_seen = counts.ends.get("ci", Counter()), counts.seen.get("ci", Counter())
    ends = {
        c: (shi_end[c], shi_seen[c], ci_end[c], ci_seen[c])
        for c in sorted(shi_seen.keys() | ci_seen.keys())
        if is_cjk(c) and shi_seen[c] + ci_seen[c] >= MIN_OCCURRENCES
    }
    lines = {
        "shi": (shi_end.total(), shi_seen.total()),
        "ci": (ci_end.total(), ci_seen.total()),
    }
    return Usage(
        scheme=SCHEME,
        tones=tones,
        rhymes=rhymes,
        ends=ends,
        lines=lines,
        corpus={**corpus, "poems": dict(sorted(counts.poems.items()))},
    )


def run(corpus: Path, out: Path = DEFAULT_PATH, jobs: int = 1) -> dict:
    """Derive from `corpus`, write `out`; a summary for the command line."""
    usage, timing = derive(corpus, jobs)
    save_usage(out, usage)
    return {
        "out": str(out),
        "bytes": out.stat().st_size,
        **timing,
        "poems": usage.corpus["poems"],
        "tone_polyphones": len(usage.tones),
        "rhyme_polyphones": len(usage.rhymes),
        "end_characters": len(usage.ends),
    }
