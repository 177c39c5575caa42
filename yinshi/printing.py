"""How the command line shows poems and analyses: `yinshi poem`, `yinshi ask`, `yinshi analyze`.

Shared ground: `yinshi ask` prints what a worker sent through the queue exactly as `yinshi
poem` prints what it wrote in-process, without the client importing the model.
"""

import json

from yinshi.prosody import Analysis


def print_poems(result, as_json: bool) -> int:
    """How `yinshi poem` and `yinshi ask` show a PoemResult: readable, or a JSON list."""
    if as_json:
        poems = [poem.model_dump() for poem in result.poems]
        print(json.dumps(poems, ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(format_poem(poem) for poem in result.poems))
    return 0


def format_poem(poem) -> str:
    """Title, the lines, then what it is: form, template, rhyme group, whether it conforms."""
    kind = f"词 · {poem.tune}" if poem.tune else poem.form
    rhyme = poem.analysis.get("rhyme_group_name") or poem.rhyme_group
    meta = " · ".join(part for part in (kind, poem.template, rhyme) if part)
    verdict = "合律 ✓" if poem.conforms else "不拘格律"
    return "\n".join([poem.title, *poem.lines, f"（{meta} · {verdict} · score {poem.score:.2f}）"])


def print_analysis(text: str, form: str | None, scheme: str, as_json: bool) -> int:
    """Analyse and print; bad input raises `ProsodyInputError` (a UserError, one line, exit 2).

    Exit status 0 whether or not the poem conforms: the analysis itself succeeded.
    """
    from yinshi.prosody import analyze

    result = analyze(text, form=form, scheme=scheme)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_analysis(result))
    return 0


def format_analysis(result: Analysis) -> str:
    """The poem with its tone marks under each line, what it was checked as, and its faults."""
    from yinshi.prosody import get_scheme

    rows = []
    for line, marks in zip(result.lines, result.marks, strict=True):
        rows += [line, marks]
    rows.append("○ 平  ● 仄  ⊙ 可平可仄  ? 韵书未收")
    rows.append("")
    scheme = get_scheme(result.scheme).title
    if result.rules == "none":
        rows.append(f"体裁：{result.form}（不拘格律，仅标平仄；{scheme}）")
        return "\n".join(rows)
    kind = f"词 · {result.tune}" if result.tune else result.form
    rows.append(f"体裁：{kind}" + (f"（{result.template}）" if result.template else ""))
    if result.rhyme_group_name:
        rows.append(f"韵部：{result.rhyme_group_name}（{scheme}）")
    errors = [v for v in result.violations if v.severity == "error"]
    rows.append("合律 ✓" if result.conforms else f"不合律：{len(errors)} 处")
    for v in result.violations:
        where = "全篇" if v.line == 0 else f"第{v.line}句" + (f"第{v.pos}字" if v.pos else "")
        label = "提示" if v.severity == "warning" else "出律"
        rows.append(f"  {label} {where}：{v.message}")
    return "\n".join(rows)
