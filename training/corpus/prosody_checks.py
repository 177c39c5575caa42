"""What the corpus asks of the 格律 engine: conformance of 近体 poems, 粘/对 of 排律.

Conformance of the corpus is the baseline an unconstrained model is measured against.
"""

from collections.abc import Callable, Iterable
from multiprocessing.pool import Pool

from yinshi.prosody import ProsodyInputError, analyze
from yinshi.prosody.forms import REGULAR_FORMS

_CHUNK = 256


def _check(item: tuple[str, str]) -> bool | None:
    """For a 近体 form: does the body conform? For 排律: does it keep 粘 and 对?

    None when the engine rejects the input (for 排律: when it has no rules for the form, the
    shape's verdict stands).
    """
    text, form = item
    try:
        analysis = analyze(text, form=form)
    except ProsodyInputError:
        return None
    if form == "排律":
        return not any(v.kind in ("nian", "dui") for v in analysis.violations)
    return analysis.conforms


def check_all(
    items: list[tuple[str, str]], pool: Pool | None, progress: Callable
) -> list[bool | None]:
    """``_check`` over (text, form) pairs, in the pool's processes; results in input order.

    ``progress`` wraps the iterator (tqdm). About 3,000 poems/s per process.
    """
    if pool is None:
        return [_check(item) for item in progress(items)]
    return list(progress(pool.imap(_check, items, chunksize=_CHUNK), total=len(items)))


def conformance(forms_and_results: Iterable[tuple[str, bool | None]]) -> dict:
    """Per 近体 form: poems, conforming, rejected by the engine, share conforming."""
    table = {form: {"poems": 0, "conforming": 0, "rejected": 0} for form in REGULAR_FORMS}
    for form, result in forms_and_results:
        row = table[form]
        row["poems"] += 1
        row["conforming"] += result is True
        row["rejected"] += result is None
    for row in table.values():
        row["share"] = round(row["conforming"] / row["poems"], 4) if row["poems"] else None
    return table
