"""What a poem says, measured against real poems of the same titles (see `metrics.DEFINITIONS`).

Form and tone are right by construction; these measures look at the wording instead:
重字 (a character used again), whether the poem is about its title (a co-occurrence judge
built from the training split), 对仗 in the middle couplets of a 律诗 (word classes from
jieba's dictionary, never from corpus couplets, so a generator steered by corpus couplet
statistics is not graded by its own table), and 虚字 at line ends. Torch-free: numpy only.
"""

import importlib.util
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from pathlib import Path

import numpy as np

from model.prompt import clean_title
from training.lm.metrics import poem_lines
from yinshi.errors import UserError
from yinshi.prosody.text import CJK_RANGES

GROUPS = ("五绝", "七绝", "五律", "七律", "词")
"""The rows of the content table; every 词牌 counts as 词."""
LUSHI = ("五律", "七律")
"""The forms with 对仗 required (颔联, 颈联)."""

XUZI: tuple[str, ...] = tuple(
    "之乎者也矣焉哉兮耳欤耶邪夫"  # particles that close a sentence
    "而以于与及其所则乃且亦犹若如何岂"  # conjunctions, prepositions, 其/所/何
    "不无未莫非勿弗"  # negations
)
"""Classical 虚字 (function words): odd at a line end, where a 实字 usually carries the rhyme.
The one list every 虚字 measure uses. 然 (依然, 悠然) is left out: an ordinary rhyme word."""

TITLE_IGNORED = frozenset(XUZI) | frozenset("一二三四五六七八九十百千首")
"""Title characters that say nothing of the topic: 虚字 and the numbering of a series (其二,
五首); the body using one of them is not using the title."""

RETRIEVAL_CANDIDATES = 20
"""The true title and 19 distractors: chance is 1/20."""
MIN_COUNT = 3
"""The topic judge ignores characters seen in fewer train titles (or bodies) than this."""

_NOT_HAN = re.compile(f"[^{CJK_RANGES}]+")
_RUNS = re.compile(r"(.)\1+")
_ALIAS_SEPARATORS = re.compile("[・·]")

# Coarse word classes from jieba's part-of-speech tags (first letters, longest prefix first).
_CLASS_OF_TAG = (
    ("ng", "noun"), ("vg", "verb"), ("ag", "adj"), ("tg", "noun"),
    ("n", "noun"), ("s", "noun"), ("f", "noun"), ("t", "noun"),
    ("v", "verb"), ("a", "adj"), ("b", "adj"), ("z", "adj"), ("d", "adv"),
    ("m", "num"), ("q", "num"), ("r", "pron"),
    ("p", "func"), ("c", "func"), ("u", "func"), ("y", "func"), ("e", "func"), ("o", "func"),
)  # fmt: skip
_NO_CLASS_TAGS = frozenset({"zg", "g", "x", "i", "l", "j", "k", "h", "mg", "dg"})
"""Tags that say nothing of a character's class: jieba's catch-alls for rare characters
(zg, g, x), idioms and set phrases (i, l), abbreviations, affixes."""
_NAME_TAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})
"""Proper names: their characters are picked for sound or meaning, not by class."""


def han(text: str) -> str:
    """The Han characters of a text, nothing else (marks, spaces, letters dropped)."""
    return _NOT_HAN.sub("", text)


# --- 重字 ---------------------------------------------------------------------------------------


def repeats(text: str) -> int:
    """Extra uses of characters the poem has already used; 叠字 (萧萧) count once.

    Adjacent identical characters within a line collapse first, so 萧萧 is one use of 萧;
    then extra = characters − distinct characters over the whole poem.
    """
    chars = "".join(_RUNS.sub(r"\1", han(line)) for line in poem_lines(text))
    return len(chars) - len(set(chars))


# --- 句末虚字 -----------------------------------------------------------------------------------


def line_ends(text: str) -> list[str]:
    """The last Han character of every 句."""
    return [chars[-1] for chars in map(han, poem_lines(text)) if chars]


def xuzi_end_share(texts: Iterable[str]) -> float | None:
    """Share of line ends that are 虚字 (`XUZI`), over all lines of the texts."""
    ends = [c for text in texts for c in line_ends(text)]
    return sum(c in XUZI for c in ends) / len(ends) if ends else None


# --- 对仗 ---------------------------------------------------------------------------------------


def coarse_class(tag: str) -> str | None:
    """A jieba tag's coarse class (noun verb adj adv num pron func), None if it has none."""
    if tag in _NO_CLASS_TAGS:
        return None
    for prefix, name in _CLASS_OF_TAG:
        if tag.startswith(prefix):
            return name
    return None


def word_classes(lines: Iterable[str]) -> dict[str, str]:
    """Each character's most frequent coarse class in a jieba-format dictionary.

    ``lines`` are "word freq tag". A character's class is the one carrying the most frequency
    over the entries that contain it, its own single-character entry included: that entry
    alone leaves half the characters without a class (jieba tags them zg, g or x). Names and
    idioms are left out. Modern usage decides (月 stays a measure word): a rough proxy.
    """
    mass: dict[str, Counter] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        word, freq, tag = parts
        name = coarse_class(tag)
        if name is None or (len(word) > 1 and tag in _NAME_TAGS):
            continue
        for char in set(word):
            mass.setdefault(char, Counter())[name] += int(freq)
    return {char: counts.most_common(1)[0][0] for char, counts in mass.items()}


def jieba_dictionary() -> Path:
    """jieba's ``dict.txt``, found without importing jieba; `UserError` if it is not installed."""
    spec = importlib.util.find_spec("jieba")
    folder = next(iter(spec.submodule_search_locations or ()), None) if spec else None
    path = Path(folder, "dict.txt") if folder else None
    if path is None or not path.is_file():
        raise UserError("对仗评测需要 jieba 词典 / 对仗 needs jieba: pip install jieba==0.42.1")
    return path


@cache
def jieba_classes() -> dict[str, str]:
    """`word_classes` of jieba's own dictionary, read once."""
    with jieba_dictionary().open(encoding="utf-8") as lines:
        return word_classes(lines)


def parallel_pairs(first: str, second: str, classes: Mapping[str, str]) -> list[bool]:
    """Per aligned position: different characters of the same known class."""
    return [
        a != b and classes.get(a) is not None and classes.get(a) == classes.get(b)
        for a, b in zip(first, second, strict=False)
    ]


def parallelism(text: str, classes: Mapping[str, str]) -> float | None:
    """Share of parallel positions over the 颔联 (lines 3–4) and 颈联 (5–6) of a 律诗.

    None unless the poem has 8 lines of one length (5 or 7), as a 律诗 has.
    """
    lines = [han(line) for line in poem_lines(text)]
    if len(lines) != 8 or {len(line) for line in lines} not in ({5}, {7}):
        return None
    flags = [*parallel_pairs(lines[2], lines[3], classes)]
    flags += parallel_pairs(lines[4], lines[5], classes)
    return sum(flags) / len(flags)


# --- 切题 ---------------------------------------------------------------------------------------


def topic_chars(title: str, tune: str | None = None) -> str:
    """The distinct Han characters of a title that can carry a topic.

    For a 词 the tune name and its aliases are removed first: most 词 are titled by their
    tune alone (浣溪沙), which names a melody, not a topic.
    """
    title = clean_title(title or "")
    if tune:
        for name in sorted(set(_ALIAS_SEPARATORS.split(tune)) | {tune}, key=len, reverse=True):
            if name:
                title = title.replace(name, "")
    return "".join(dict.fromkeys(han(title)))


def uses_title(title_chars: str, text: str) -> bool | None:
    """The body uses a character of the title (`TITLE_IGNORED` aside); None: no such character."""
    wanted = set(title_chars) - TITLE_IGNORED
    if not wanted:
        return None
    return bool(wanted & set(han("".join(poem_lines(text)))))


@dataclass
class TopicJudge:
    """How strongly a poem's characters go with a title's, learnt from train titles and bodies.

    ``ppmi[t, b]`` = max(0, log((c + 1) / (e + 1))): c the train works with title character
    t and body character b, e = df(t)·df(b)/N what independence predicts (add-one smoothing
    pulls rare pairs to 0). ``baseline[t]`` is the mean PPMI of t with a typical poem's
    characters (body characters weighted by their document frequency), so a title character
    associated with everything (山, 春) is not rewarded for it.
    """

    title_index: dict[str, int]
    body_index: dict[str, int]
    ppmi: np.ndarray
    """[title chars, body chars] float32."""
    baseline: np.ndarray
    """[title chars] float32."""
    works: int

    @classmethod
    def build(cls, records: Iterable[Mapping], min_count: int = MIN_COUNT) -> "TopicJudge":
        """From works with a topic title and a body (train only: the judge never sees test)."""
        titles, bodies = [], []
        for record in records:
            title = topic_chars(record.get("title") or "", record.get("tune"))
            body = han("".join(set(record["text"])))
            if title and body:
                titles.append(title)
                bodies.append(body)
        title_df, body_df = Counter(chain(*titles)), Counter(chain(*bodies))
        title_index = _index(title_df, min_count)
        body_index = _index(body_df, min_count)
        works = len(titles)
        cooccur = _cooccurrence(titles, bodies, title_index, body_index)
        t_df = np.array([title_df[c] for c in title_index], dtype=np.float64)
        b_df = np.array([body_df[c] for c in body_index], dtype=np.float64)
        ppmi = np.empty(cooccur.shape, dtype=np.float32)
        for start in range(0, len(t_df), 256):  # row blocks bound the float64 temporaries
            rows = slice(start, start + 256)
            expected = t_df[rows, None] * b_df[None, :] / max(works, 1)
            ppmi[rows] = np.maximum(np.log((cooccur[rows] + 1.0) / (expected + 1.0)), 0.0)
        weights = b_df / b_df.sum() if b_df.size else b_df
        baseline = (ppmi @ weights).astype(np.float32) if b_df.size else np.zeros(len(t_df))
        return cls(title_index, body_index, ppmi, baseline, works)

    def score(self, title_chars: str, text: str) -> float:
        """Σ over title characters of (mean PPMI with the body's characters − its baseline).

        0 when nothing is known of the title's or the body's characters.
        """
        return self.scores([title_chars], text)[0]

    def scores(self, titles: Sequence[str], text: str) -> list[float]:
        """`score` of several titles against one poem."""
        body = dict.fromkeys(han("".join(poem_lines(text))))
        columns = [self.body_index[c] for c in body if c in self.body_index]
        found = []
        for title in titles:
            rows = [self.title_index[c] for c in title if c in self.title_index]
            if not rows or not columns:
                found.append(0.0)
                continue
            block = self.ppmi[np.ix_(rows, columns)]
            found.append(float((block.mean(axis=1) - self.baseline[rows]).sum()))
        return found


def _index(df: Counter, min_count: int) -> dict[str, int]:
    kept = sorted(char for char, count in df.items() if count >= min_count)
    return {char: i for i, char in enumerate(kept)}


def _cooccurrence(
    titles: Sequence[str],
    bodies: Sequence[str],
    title_index: Mapping[str, int],
    body_index: Mapping[str, int],
) -> np.ndarray:
    """[title chars, body chars] int32: works with the title character and the body character.

    One bincount per title character over the concatenated bodies of its works; characters
    are mapped to ids through code-point tables (Python loops over 10⁸ pairs take minutes).
    """
    body_ids, body_work = _encode(bodies, body_index)
    lengths = np.bincount(body_work, minlength=len(bodies))
    starts = np.cumsum(lengths) - lengths
    title_ids, title_work = _encode(titles, title_index)
    order = np.argsort(title_ids, kind="stable")
    rows, firsts = np.unique(title_ids[order], return_index=True)
    width = len(body_index)
    counts = np.zeros((len(title_index), width), dtype=np.int32)
    groups = np.split(title_work[order], firsts[1:]) if rows.size else []
    for row, picked in zip(rows, groups, strict=True):
        sizes = lengths[picked]
        total = int(sizes.sum())
        if total:
            # positions of every picked body in `body_ids`: its start, start+1 … start+len-1
            offsets = np.repeat(starts[picked] - (np.cumsum(sizes) - sizes), sizes)
            counts[row] = np.bincount(body_ids[offsets + np.arange(total)], minlength=width)
    return counts


def _encode(texts: Sequence[str], index: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(id, text number) of every character of the texts that ``index`` knows, in order."""
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    work = np.repeat(np.arange(len(texts)), np.fromiter(map(len, texts), dtype=np.int64))
    table = np.full(max([int(codes.max(initial=0)), *map(ord, index)]) + 1, -1, dtype=np.int64)
    table[[ord(c) for c in index]] = list(index.values())
    ids = table[codes]
    known = ids >= 0
    return ids[known], work[known]


def retrieval_hit(
    judge: TopicJudge, title_chars: str, text: str, pool: Sequence[str], rng: random.Random
) -> float | None:
    """1 when the true title outscores 19 distractors from ``pool`` (ties share the win).

    Distractors are other titles (not the same topic characters, `TITLE_IGNORED` aside).
    None when the title has no topic or the pool has too few other titles.
    """
    key = frozenset(title_chars) - TITLE_IGNORED
    if not key:
        return None
    others = [t for t in pool if frozenset(t) - TITLE_IGNORED != key]
    if len(others) < RETRIEVAL_CANDIDATES - 1:
        return None
    distractors = rng.sample(others, RETRIEVAL_CANDIDATES - 1)
    true, *scores = judge.scores([title_chars, *distractors], text)
    if any(s > true for s in scores):
        return 0.0
    return 1.0 / (1 + sum(s == true for s in scores))


def title_pools(records: Iterable[Mapping]) -> dict[str, list[str]]:
    """Per group, the distinct topic titles of the given (test) works: retrieval's distractors."""
    pools: dict[str, dict[str, None]] = {group: {} for group in GROUPS}
    for record in records:
        title = topic_chars(record.get("title") or "", record.get("tune"))
        if record["form"] in pools and title:
            pools[record["form"]][title] = None
    return {group: list(titles) for group, titles in pools.items()}


def group_of(form: str) -> str:
    """The content-table row of a form: itself for 近体, 词 for a 词牌 name or 词."""
    return form if form in GROUPS[:4] else "词"


# --- one table row ------------------------------------------------------------------------------


def measure(
    poem: Mapping,
    judge: TopicJudge,
    classes: Mapping[str, str],
    pools: Mapping[str, Sequence[str]],
    seed: int,
) -> dict:
    """Every content measure of one poem: {index, group, title, tune, text, mask_nll}.

    ``index`` names the request: the poem a variant wrote and the real poem its title came
    from meet the same distractor titles.
    """
    text = poem["text"]
    title = topic_chars(poem["title"], poem.get("tune"))
    rng = random.Random(f"retrieval:{seed}:{poem['index']}")
    ends = line_ends(text)
    return {
        "group": poem["group"],
        "repeats": repeats(text),
        "retrieval": retrieval_hit(judge, title, text, pools.get(poem["group"], ()), rng),
        "title_use": uses_title(title, text),
        "parallel": parallelism(text, classes) if poem["group"] in LUSHI else None,
        "ends": len(ends),
        "xuzi_ends": sum(c in XUZI for c in ends),
        "mask_nll": poem.get("mask_nll"),
    }


def summarize(measured: Sequence[Mapping]) -> dict:
    """One table row from `measure`'s results: means over the poems where defined."""
    ends = sum(m["ends"] for m in measured)
    return {
        "n": len(measured),
        "repeats": mean(m["repeats"] for m in measured),
        "repeats_share": mean(m["repeats"] > 0 for m in measured),
        "titled": sum(m["title_use"] is not None for m in measured),
        "retrieval": mean(m["retrieval"] for m in measured),
        "title_use": mean(m["title_use"] for m in measured),
        "parallel": mean(m["parallel"] for m in measured),
        "xuzi_end": sum(m["xuzi_ends"] for m in measured) / ends if ends else None,
        "mask_nll": mean(m["mask_nll"] for m in measured),
    }


def content_rows(
    poems: Sequence[Mapping],
    judge: TopicJudge,
    classes: Mapping[str, str],
    pools: Mapping[str, Sequence[str]],
    seed: int,
) -> dict[str, dict]:
    """`summarize` per group (五绝 七绝 五律 七律 词) that has poems, and over ``all``."""
    measured = [measure(poem, judge, classes, pools, seed) for poem in poems]
    rows = {}
    for group in GROUPS:
        of_group = [m for m in measured if m["group"] == group]
        if of_group:
            rows[group] = summarize(of_group)
    rows["all"] = summarize(measured)
    return rows


def mean(values: Iterable) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    known = [float(v) for v in values if v is not None]
    return math.fsum(known) / len(known) if known else None
