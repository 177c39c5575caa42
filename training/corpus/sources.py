"""Readers for the collections of the chinese-poetry package, one per layout.

Each collection has its own JSON shape (``paragraphs``, ``content``, ``para``, nested 蒙学 books);
the readers flatten them into ``RawWork`` so the cleaning and classification downstream see one
shape. ``SOURCES`` is ordered by priority: when two works have the same body, the one read first
is kept, so the full, edited collections come before anthologies that reprint them.

Files the readers skip, and why:
- ``quantangshi/唐诗三百首.json``: every body is already in ``poet.tang.*`` (checked);
  ``唐诗补录.json``: one untitled inscription with no id; ``表面结构字.json``: a table of
  composed characters, not text; ``authors.*``, ``error/``: not poems.
- ``songci/宋词三百首.json``: the same 词 as ``ci.song.*`` from another edition (92 of 280
  differ by a character or two); keeping both would add near-duplicates.
- ``wudaishici/huajianji/huajianji-0-preface.json``: the anthology's prose preface;
  ``nantang/authors.json``, ``intro.json``: biographies.
- ``mengxue/sanzijing-new.json``: a modern rewrite of the traditional 三字经 that is kept;
  ``mengxue/wenzimengqiu.json``: a script primer whose entries are seal glyphs shown as ●.
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from yinshi.errors import UserError

KINDS = ("shi", "ci", "maybe_ci", "qu", "classic")
"""How a work is classified: ``shi`` by shape, ``ci`` 词 with its tune, ``maybe_ci`` a title
``X·Y`` where X may be a 词牌 or a poem's title (纳兰性德), ``qu`` 曲, ``classic`` prose and the
pre-regular classics (form 其他)."""


@dataclass(frozen=True)
class RawWork:
    """One work as the package gives it, before cleaning and conversion."""

    source: str
    id: str
    dynasty: str | None
    author: str
    title: str
    paragraphs: list[str]
    kind: str
    tune: str | None


SOURCES = (
    "tangshi",
    "songshi",
    "songci",
    "wudaishici",
    "nalanxingde",
    "caocaoshiji",
    "yuanqu",
    "shijing",
    "chuci",
    "mengxue",
    "lunyu",
    "sishuwujing",
)
"""Every source, in dedup priority order."""

TRADITIONAL_SOURCES = frozenset({"tangshi", "songshi", "mengxue", "sishuwujing"})
"""Sources written in traditional characters; their records keep the original in text_trad."""


def load_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise UserError(f"missing source file: {path}") from None
    except (OSError, ValueError) as error:
        raise UserError(f"corrupt source file {path}: {error}") from None


def _numbered(directory: Path, prefix: str) -> list[Path]:
    """``prefix.N.json`` files in N order, so ids and output follow the package's order."""
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.json")
    found = [
        (int(m[1]), p)
        for p in directory.glob(f"{prefix}.*.json")
        if (m := pattern.fullmatch(p.name))
    ]
    if not found:
        raise UserError(f"missing source files: {directory / f'{prefix}.*.json'}")
    return [path for _, path in sorted(found)]


def _records(data: Any, path: Path) -> list[dict]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UserError(f"corrupt source file {path}: expected a list of objects")
    return data


def _text_list(value: Any, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UserError(f"corrupt source file {path}: a body is not a list of strings")
    return value


@dataclass(frozen=True)
class Layout:
    """Where a source with a flat list of works keeps what `RawWork` needs.

    Most collections differ only in field names, a fixed author or dynasty, and how ids are
    formed; one table of these replaces a reader per source. (纳兰性德, 元曲 and 蒙学 have
    shapes of their own and keep their readers.)
    """

    dynasty: str
    body: str = "paragraphs"
    title: tuple[str, ...] = ("title",)
    """Fields tried in order; the first non-empty one is the title."""
    author: str | None = None
    """The author of the whole source (曹操); None: each record's ``author``."""
    unknown_author: str = ""
    authors_by_file: dict[str, str] | None = None
    """File stem → author, for books whose records name none (四书)."""
    dynasty_by_author: dict[str, str] | None = None
    """Authors of another dynasty than the source's (楚辞: 屈原 is pre-Qin, most are Han)."""
    kind: str = "shi"
    tune: str | None = None
    """The field naming a 词's tune: a record with one is a 词 (kind "ci")."""
    ids: str = "index"
    """"index": the record's place; "file": file stem and place; "record": the record's own
    id (else file stem and place); "offset": place after the offset in ``name.N.json``."""


_CHUCI_PRE_QIN = dict.fromkeys(("屈原", "宋玉", "景差"), "先秦")
_SISHU_AUTHORS = {"daxue": "曾子", "zhongyong": "子思", "mengzi": "孟子"}

LAYOUTS = {
    "tangshi": Layout("唐", ids="record"),
    "songshi": Layout("宋", ids="record"),
    "songci": Layout("宋", title=("rhythmic",), tune="rhythmic", ids="offset"),
    "wudaishici": Layout("五代", title=("title", "rhythmic"), tune="rhythmic", ids="file"),
    "caocaoshiji": Layout("汉", author="曹操"),
    "shijing": Layout("先秦", body="content", author="佚名", kind="classic"),
    "chuci": Layout(
        "汉", body="content", unknown_author="佚名", dynasty_by_author=_CHUCI_PRE_QIN,
        kind="classic",
    ),
    "lunyu": Layout("先秦", title=("chapter",), author="孔子弟子", kind="classic"),
    "sishuwujing": Layout(
        "先秦", title=("chapter",), authors_by_file=_SISHU_AUTHORS, kind="classic", ids="file"
    ),
}  # fmt: skip
"""The sources read by `_flat`, by their layout."""


def _flat(source: str, path: Path) -> Iterator[RawWork]:
    layout = LAYOUTS[source]
    offset = int(path.name.split(".")[2]) if layout.ids == "offset" else 0
    for i, item in enumerate(_records(load_json(path), path)):
        if layout.ids == "record":
            key = item.get("id") or f"{path.stem}:{i}"
        else:
            key = {"index": f"{i}", "file": f"{path.stem}:{i}", "offset": f"{offset + i}"}[
                layout.ids
            ]
        author = layout.author
        if author is None and layout.authors_by_file:
            author = layout.authors_by_file[path.stem]
        author = author or item.get("author") or layout.unknown_author
        tune = (item.get(layout.tune) or "").strip() or None if layout.tune else None
        yield RawWork(
            source=source,
            id=f"{source}:{key}",
            dynasty=(layout.dynasty_by_author or {}).get(author, layout.dynasty),
            author=author,
            title=next((item[f] for f in layout.title if item.get(f)), ""),
            paragraphs=_text_list(item.get(layout.body), path),
            kind="ci" if tune else layout.kind,
            tune=tune,
        )


def _nalanxingde(path: Path) -> Iterator[RawWork]:
    for i, item in enumerate(_records(load_json(path), path)):
        title = (item.get("title") or "").strip()
        head, dot, _ = title.partition("·")
        yield RawWork(
            source="nalanxingde",
            id=f"nalanxingde:{i}",
            dynasty="清",
            author=item.get("author") or "纳兰性德",
            title=title,
            paragraphs=_text_list(item.get("para"), path),
            kind="maybe_ci" if dot else "shi",
            tune=head.strip() if dot else None,
        )


_REPEAT_TUNE = frozenset({"幺篇", "么篇", "前腔"})
_QU_TUNE = re.compile(r"[\u4e00-\u9fff]{1,6}")


def qu_tune(title: str, previous: str | None) -> str | None:
    """The 曲牌 in a 元曲 title, or None when the title names none.

    Titles are ``剧名・曲牌``, ``剧名・宫调/曲牌``, ``曲牌・题目`` or a bare ``曲牌``; ``幺篇`` and
    ``前腔`` repeat the previous tune. Some titles swallowed the first line of the body, so a
    candidate longer than six characters is not a tune.
    """
    parts = [part.split("/")[-1].strip() for part in title.split("・")]
    for candidate in (parts[-1], parts[0]):
        if candidate in _REPEAT_TUNE:
            return previous
        if _QU_TUNE.fullmatch(candidate) and not candidate.endswith("调"):
            return candidate
    return None


def _yuanqu(path: Path) -> Iterator[RawWork]:
    tune = None
    for i, item in enumerate(_records(load_json(path), path)):
        title = item.get("title") or ""
        tune = qu_tune(title, tune)
        yield RawWork(
            source="yuanqu",
            id=f"yuanqu:{i}",
            dynasty="元",
            author=item.get("author") or "",
            title=title,
            paragraphs=_text_list(item.get("paragraphs"), path),
            kind="qu",
            tune=tune,
        )


MENGXUE_BOOKS = {
    # file stem: (dynasty, kind); None: each piece names its own, e.g. "（唐）杜甫", "先秦：屈原"
    "qianjiashi": (None, "shi"),
    "tangshisanbaishou": ("唐", "shi"),
    "guwenguanzhi": (None, "classic"),
    "sanzijing-traditional": ("宋", "classic"),
    "baijiaxing": ("宋", "classic"),
    "qianziwen": ("南北朝", "classic"),
    "dizigui": ("清", "classic"),
    "shenglvqimeng": ("清", "classic"),
    "youxueqionglin": ("明", "classic"),
    "zengguangxianwen": ("明", "classic"),
    "zhuzijiaxun": ("清", "classic"),
}
"""The 蒙学 books read, with the dynasty of the book and how its pieces are classified."""

_DYNASTY_IN_AUTHOR = re.compile(r"[（(](.+?)[）)](.*)|(.+?)：(.*)")
_DYNASTY_NAMES = {"兩漢": "汉", "唐代": "唐", "宋代": "宋", "明代": "明", "清代": "清"}


def _split_author(author: str, dynasty: str | None) -> tuple[str | None, str]:
    """``（唐）杜甫`` / ``唐代：杜甫`` → (唐, 杜甫); other names keep the book's dynasty."""
    match = _DYNASTY_IN_AUTHOR.fullmatch(author.strip())
    if not match:
        return dynasty, author.strip()
    named, name = (match[1], match[2]) if match[1] else (match[3], match[4])
    return _DYNASTY_NAMES.get(named, named), name.strip()


def _mengxue_pieces(node: Any, title: str, author: str) -> Iterator[tuple[str, str, list]]:
    """Every piece with paragraphs in a nested book: (title, author, paragraphs).

    Books nest ``content`` lists of chapters; 千家诗 nests the poems of a set inside
    ``paragraphs`` as ``{"subchapter": "其一", "paragraphs": [...]}``.
    """
    if not isinstance(node, dict):
        return
    own = node.get("chapter") or node.get("title")
    sub = node.get("subchapter")  # 唐诗三百首: a full title; 千家诗: "其一" under its set
    title = (sub if own else f"{title}·{sub}") if sub else own or title
    author = node.get("author") or author
    paragraphs = node.get("paragraphs")
    if isinstance(paragraphs, list) and all(isinstance(p, str) for p in paragraphs):
        yield title, author, paragraphs
    elif isinstance(paragraphs, list):
        for part in paragraphs:
            yield from _mengxue_pieces(part, title, author)
    content = node.get("content")
    if isinstance(content, list):
        for child in content:
            yield from _mengxue_pieces(child, title, author)


def _mengxue(path: Path) -> Iterator[RawWork]:
    book_dynasty, kind = MENGXUE_BOOKS[path.stem]
    data = load_json(path)
    if not isinstance(data, dict):
        raise UserError(f"corrupt source file {path}: expected an object")
    book_title = data.get("title") or path.stem
    for i, (title, author, paragraphs) in enumerate(_mengxue_pieces(data, book_title, "佚名")):
        dynasty, name = _split_author(author, book_dynasty)
        yield RawWork(
            source="mengxue",
            id=f"mengxue:{path.stem}:{i}",
            dynasty=dynasty,
            author=name,
            title=title,
            paragraphs=paragraphs,
            kind=kind,
            tune=None,
        )


READERS: dict[str, Callable[[Path], Iterator[RawWork]]] = {
    **{source: partial(_flat, source) for source in LAYOUTS},
    "nalanxingde": _nalanxingde,
    "yuanqu": _yuanqu,
    "mengxue": _mengxue,
}
"""How each source's files are read; module-level so worker processes can be handed them."""


def read(source: str, path: Path) -> Iterator[RawWork]:
    return READERS[source](path)


def source_files(raw: Path) -> list[tuple[str, Path]]:
    """Every file to read as (source, path), in priority order; raises on a missing one."""
    dist = raw / "dist"
    if not dist.is_dir():
        raise UserError(f"raw package not found: {dist} (run `yinshi corpus fetch` first)")
    qts = dist / "quantangshi"
    huajianji = sorted((dist / "wudaishici" / "huajianji").glob("huajianji-*-juan.json"))
    if not huajianji:
        pattern = dist / "wudaishici/huajianji/huajianji-*-juan.json"
        raise UserError(f"missing source files: {pattern}")
    plan = {
        "tangshi": _numbered(qts, "poet.tang"),
        "songshi": _numbered(qts, "poet.song"),
        "songci": _numbered(dist / "songci", "ci.song"),
        "wudaishici": [*huajianji, dist / "wudaishici/nantang/poetrys.json"],
        "nalanxingde": [dist / "nalanxingde/纳兰性德诗集.json"],
        "caocaoshiji": [dist / "caocaoshiji/caocao.json"],
        "yuanqu": [dist / "yuanqu/yuanqu.json"],
        "shijing": [dist / "shijing/shijing.json"],
        "chuci": [dist / "chuci/chuci.json"],
        "mengxue": [dist / f"mengxue/{stem}.json" for stem in MENGXUE_BOOKS],
        "lunyu": [dist / "lunyu/lunyu.json"],
        "sishuwujing": [dist / f"sishuwujing/{stem}.json" for stem in _SISHU_AUTHORS],
    }
    files = [(source, path) for source in SOURCES for path in plan[source]]
    for _, path in files:
        if not path.is_file():
            raise UserError(f"missing source file: {path}")
    return files
