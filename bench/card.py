"""The picture card's cost: render time per form on one core, and the PNG's size.

Renders classics of every form (and 刘过's 沁园春, the longest common 词) as the bot does —
layout, paint, palette, PNG — plain and with 格律 marks, pinned to one CPU. Prints one JSON
object: per form and variant the p50 and p95 in ms, the PNG size in KB and the card's size in
px, against the goals (p50 ≤ 150 ms, PNG ≤ 300 KB).

    python bench/card.py [--repeats 20]
    python bench/card.py --docs docs      # also writes the README's two cards there

The first render of a process also loads the fonts and asks fontconfig (reported apart as
`first_render_ms`); the bot pays that once.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.card import layout, render_card
from yinshi.prosody import analyze
from yinshi.protocol import Poem

GOAL_MS, GOAL_KB = 150, 300
CLASSICS = {
    "五绝": ("登鹳雀楼", "五绝", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"),
    "七绝": (
        "早发白帝城",
        "七绝",
        "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。",
    ),
    "五律": (
        "春望",
        "五律",
        "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。"
        "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。",
    ),
    "七律": (
        "登高",
        "七律",
        "风急天高猿啸哀，渚清沙白鸟飞回。无边落木萧萧下，不尽长江滚滚来。"
        "万里悲秋常作客，百年多病独登台。艰难苦恨繁霜鬓，潦倒新停浊酒杯。",
    ),
    "词·如梦令": (
        "如梦令",
        "如梦令",
        "常记溪亭日暮，沉醉不知归路。兴尽晚回舟，误入藕花深处。争渡，争渡，惊起一滩鸥鹭。",
    ),
    "词·沁园春": (
        "沁园春",
        "沁园春",
        "天下稼轩，文章有弟，看来未迟。正三齐盗起，两河民散，势倾似土，国泛如杯。"
        "猛士云飞，狂胡灰灭，机会之来人共知。何为者，望桂林西去，一骑星驰。"
        "离筵不用多悲。唤红袖佳人分藕丝。种黄柑千户，梅花万里，等闲游戏，毕竟男儿。"
        "入幕来南，筹边如北，翻覆手高来去棋。公馀且，画玉簪珠履，倩米元晖。",
    ),
}
DOCS = {"card-qijue.png": ("七绝", False), "card-ci.png": ("词·如梦令", True)}
"""The README's two cards: a 七绝, and a 词 in its 格律 version."""


def classic(title: str, form: str, text: str) -> Poem:
    """A classic as the worker returns a poem: its phrases and its 格律 analysis."""
    analysis = analyze(text, form=form)
    return Poem(
        title=title,
        lines=re.findall(r"[^，。！？；、]+[，。！？；、]?", text),
        form=analysis.form,
        tune=analysis.tune,
        template=analysis.template,
        rhyme_group=analysis.rhyme_group,
        conforms=analysis.conforms,
        analysis=analysis.to_dict(),
        score=0.0,
    )


def pin_one_core() -> int | None:
    """Run on one CPU (the bot renders in one thread); the CPU, where the OS allows pinning."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--docs", type=Path, help="write the README's cards into this folder")
    args = parser.parse_args()
    cpu = pin_one_core()
    poems = {form: classic(*spec) for form, spec in CLASSICS.items()}
    started = time.perf_counter()
    render_card(poems["七绝"])
    first_ms = (time.perf_counter() - started) * 1000
    forms = {}
    for form, poem in poems.items():
        for marks in (False, True):
            times, png = [], b""
            for _ in range(args.repeats):
                started = time.perf_counter()
                png = render_card(poem, marks=marks)
                times.append((time.perf_counter() - started) * 1000)
            plan = layout(poem, marks=marks)
            forms[form + (" 格律" if marks else "")] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
                "png_kb": round(len(png) / 1024, 1),
                "size_px": [plan.width, plan.height],
                "characters": len("".join(plan.columns)),
            }
    report = {
        "cpu": cpu,
        "repeats": args.repeats,
        "first_render_ms": round(first_ms, 1),
        "goal": {"p50_ms": GOAL_MS, "png_kb": GOAL_KB},
        "meets_goal": all(
            f["p50_ms"] <= GOAL_MS and f["png_kb"] <= GOAL_KB for f in forms.values()
        ),
        "forms": forms,
    }
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        for name, (form, marks) in DOCS.items():
            (args.docs / name).write_bytes(render_card(poems[form], marks=marks))
        report["docs"] = [str(args.docs / name) for name in DOCS]
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
