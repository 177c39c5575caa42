"""``yinshi eval``: how well a checkpoint models held-out poems, and how good its samples are.

Samples come from stock ``model.generate`` (top-p sampling, no 格律 constraints): this measures
the language model itself, the floor the constrained generator starts from. The same
measures on the real test poems of each form give the ceiling.

With ``--compare`` the report gains a ``variants`` section: the constrained base, reranked and
adversarially tuned poets side by side (training/adversarial/compare.py); ``--skip-lm`` leaves
out everything above and writes only that section.
"""

import json
import random
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from model.prompt import prompt_text
from training.lm import artifacts, metrics
from training.lm.data import read_records
from training.lm.perplexity import perplexities
from yinshi.errors import UserError
from yinshi.prosody.forms import REGULAR_FORMS

TOP_TUNES = 5
MAX_NEW_TOKENS = 160


def evaluate_command(args) -> int:
    if args.n < 1:
        raise UserError("--n 须为正整数 / must be a positive integer")
    if not 0 < args.top_p <= 1 or args.temperature <= 0:
        raise UserError("--top-p 须在 (0,1]，--temperature 须为正 / bad sampling settings")
    if args.skip_lm and not args.compare:
        raise UserError("--skip-lm 只能与 --compare 同用 / only together with --compare")
    comparison = None
    if args.compare:
        from training.adversarial.compare import CompareOptions, check, read_sweep

        comparison = CompareOptions(
            base=args.model,
            corpus=args.corpus,
            adversarial=tuple(args.adversarial or ()),
            alpha=args.alpha,
            samples=args.samples,
            ci_samples=args.ci_samples,
            judge_per_form=args.judge_per_form,
            seed=args.seed,
            sweep=read_sweep(args.sweep) if args.sweep else (),
        )
        check(comparison)
    elif args.adversarial or args.sweep:
        raise UserError(
            "--adversarial/--sweep 只能与 --compare 同用 / only together with --compare"
        )
    if args.skip_lm:
        report = {"model": str(args.model), "corpus": str(args.corpus)}
        report["definitions"] = metrics.DEFINITIONS
    else:
        report = evaluate(args.model, args.corpus, args.n, args.seed, args.top_p, args.temperature)
    if comparison is not None:
        from training.adversarial.compare import compare

        report["variants"] = compare(comparison)
    out = args.out or args.model
    artifacts.write_json(Path(out) / "report.json", report)
    markdown = render(report)
    artifacts.write_atomic(Path(out) / "report.md", markdown)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else markdown)
    return 0


def evaluate(
    model_dir: Path,
    corpus: Path,
    n: int,
    seed: int = 0,
    top_p: float = 0.9,
    temperature: float = 1.0,
) -> dict:
    from model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(model_dir)
    train = read_records(corpus, "train")
    test = read_records(corpus, "test")
    tunes = checkpoint.tunes
    import torch

    torch.manual_seed(seed)  # once: every form's samples come from one seeded stream
    report: dict = {
        "model": str(model_dir),
        "corpus": str(corpus),
        "settings": {"n": n, "seed": seed, "top_p": top_p, "temperature": temperature},
        "definitions": metrics.DEFINITIONS,
        "perplexity": perplexities(checkpoint.model, checkpoint.tokenizer, test, tunes),
        "forms": {},
    }
    known_lines = metrics.corpus_lines(r["text"] for r in train)
    tune_counts = Counter(r["tune"] for r in train if r["form"] == "词" and r.get("tune"))
    targets = [(form, None) for form in REGULAR_FORMS]
    targets += [("词", tune) for tune, _ in tune_counts.most_common(TOP_TUNES)]
    for form, tune in targets:
        shape = Counter(
            tuple(len(line) for line in metrics.poem_lines(r["text"]))
            for r in train
            if tune and r.get("tune") == tune
        )
        real = pick_records(test, train, form, tune, n, seed)
        titles = [real[i % len(real)].get("title") or "" for i in range(n)]
        tune_or_none = tune if tune in tunes else None
        prompts = [prompt_text(form, title, tune_or_none) for title in titles]
        samples = generate(checkpoint, prompts, top_p, temperature)
        expected = shape.most_common(1)[0][0] if shape else None
        report["forms"][tune or form] = {
            "form": form,
            "tune": tune,
            "model": sample_metrics(samples, form, tune, expected, known_lines),
            "real": sample_metrics([r["text"] for r in real], form, tune, expected, known_lines),
            "examples": [
                {"title": t, "text": s} for t, s in zip(titles, samples[:3], strict=False)
            ],
        }
    return report


def pick_records(test: list, train: list, form: str, tune: str | None, n: int, seed: int) -> list:
    """Up to ``n`` distinct held-out works of the form or tune, seeded.

    A tune with fewer than ``n`` test works is topped up from train: their titles prompt the
    model (a 词's title is mostly its tune name anyway) and they join the real-poem ceiling.
    """

    def matches(record: Mapping) -> bool:
        return record.get("tune") == tune if tune else record["form"] == form

    rng = random.Random(seed)
    pool = [r for r in test if matches(r)]
    picked = rng.sample(pool, min(n, len(pool)))
    if len(picked) < n:
        extra = [r for r in train if matches(r)]
        picked += rng.sample(extra, min(n - len(picked), len(extra)))
    if not picked:
        raise UserError(f"语料里没有 {tune or form} / no works of this form in the corpus")
    return picked


def generate(checkpoint, prompts: list[str], top_p: float, temperature: float) -> list[str]:
    """One sample per prompt, batched with left padding; the body text up to ``<eos>``."""
    import torch

    tokenizer, model = checkpoint.tokenizer, checkpoint.model
    from training.lm.data import encode

    encoded = encode(tokenizer, prompts)
    width = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids.to(model.device),
            attention_mask=mask.to(model.device),
            do_sample=True,
            top_p=top_p,
            top_k=0,
            temperature=temperature,
            max_new_tokens=min(MAX_NEW_TOKENS, model.config.n_positions - width),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=pad,
        )
    texts = []
    for row in output[:, width:].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append("".join(tokenizer.decode(row, skip_special_tokens=True).split()))
    return texts


def judge(text: str, form: str, tune: str | None, expected: tuple | None) -> dict[str, bool | None]:
    """Format, rhyme, tone and overall verdicts for one poem (None: cannot be judged)."""
    from yinshi.prosody import ProsodyInputError, analyze

    try:
        analysis = analyze(text, form=form, tune=tune) if tune else analyze(text, form=form)
    except ProsodyInputError as error:
        if tune and expected is not None and "词牌" in str(error):
            lengths = tuple(len(line) for line in metrics.poem_lines(text))
            return {"format": lengths == expected, "rhyme": None, "tone": None, "conform": None}
        return {"format": False, "rhyme": False, "tone": False, "conform": False}
    errors = {v.kind for v in analysis.violations if v.severity == "error"}
    well_formed = not errors & metrics.FORMAT_KINDS and bool(analysis.lines)
    return {
        "format": well_formed,
        "rhyme": well_formed and not errors & metrics.RHYME_KINDS,
        "tone": well_formed and not errors & metrics.TONE_KINDS,
        "conform": well_formed and analysis.conforms,
    }


def sample_metrics(texts: list[str], form: str, tune: str | None, expected, known: set) -> dict:
    verdicts = [judge(text, form, tune, expected) for text in texts]
    result: dict = {"n": len(texts)}
    for key in ("format", "rhyme", "tone", "conform"):
        flags = [v[key] for v in verdicts if v[key] is not None]
        result[key] = metrics.share(flags) if flags else None
    result["distinct_1"] = metrics.distinct_n(texts, 1)
    result["distinct_2"] = metrics.distinct_n(texts, 2)
    result["self_bleu_2"] = metrics.self_bleu(texts, 2)
    result["self_bleu_4"] = metrics.self_bleu(texts, 4)
    result["copy"] = metrics.copy_rate(texts, known)
    return result


COLUMNS = (
    *("format", "rhyme", "tone", "conform"),
    *("distinct_1", "distinct_2", "self_bleu_2", "self_bleu_4", "copy"),
)
GROUP_NAMES = {"jinti": "近体 (五绝 七绝 五律 七律)", "ci": "词", "all": "全部 all"}


VARIANT_COLUMNS = {
    "conform": "合律率 conformance",
    "ppl_base": "ppl under base",
    "realness": "judge realness",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "self_bleu_4": "self-BLEU-4",
    "unique_first_lines": "unique first lines",
    "copy": "copy rate",
    "poems_per_s": "poems/s",
}
CONTENT_COLUMNS = {
    "conform": "合律",
    "repeats": "重字/首",
    "repeats_share": "有重字",
    "retrieval": "retrieval@20",
    "title_use": "用题字",
    "parallel": "对仗",
    "xuzi_end": "句末虚字",
    "mask_nll": "mask NLL",
}
CONTENT_GROUPS = {"五绝": "五绝", "七绝": "七绝", "五律": "五律", "七律": "七律", "词": "词",
                  "all": "全部"}  # fmt: skip


def cell(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(report: dict) -> str:
    """The report as markdown: perplexity, sample quality against the real poems, the variants
    side by side (with ``--compare``), definitions."""
    lines = [f"# 评测 Evaluation: `{report['model']}`", ""]
    if "perplexity" in report:
        lines += render_lm(report)
    if "variants" in report:
        lines += render_variants(report["variants"])
    lines += ["## 定义 Definitions", ""]
    lines += [f"- {text}" for text in report["definitions"].values()]
    return "\n".join(lines) + "\n"


def render_lm(report: dict) -> list[str]:
    settings = report["settings"]
    lines = [
        f"Corpus `{report['corpus']}`; {settings['n']} samples per form, "
        f"top-p {settings['top_p']}, temperature {settings['temperature']}, "
        f"seed {settings['seed']} (unconstrained `generate`).",
        "",
        "## 困惑度 Perplexity (test split, body tokens)",
        "",
        "| group | ppl | tokens | poems |",
        "|---|---|---|---|",
    ]
    for group, value in report["perplexity"].items():
        name = GROUP_NAMES.get(group, group)
        lines.append(f"| {name} | {value['ppl']:.1f} | {value['tokens']} | {value['poems']} |")
    lines += ["", "## 样本 Samples: model / real test poems", ""]
    lines.append("| form | who | " + " | ".join(COLUMNS) + " |")
    lines.append("|---|---|" + "---|" * len(COLUMNS))
    for name, entry in report["forms"].items():
        for who in ("model", "real"):
            row = entry[who]
            lines.append(f"| {name} | {who} | " + " | ".join(cell(row[c]) for c in COLUMNS) + " |")
    lines += ["", "## 示例 Examples", ""]
    for name, entry in report["forms"].items():
        for example in entry["examples"][:2]:
            lines.append(f"- {name}《{example['title']}》 {example['text'] or '（空）'}")
    return [*lines, ""]


def render_variants(section: dict) -> list[str]:
    """The generator variants side by side, their judge and critics, what the poems say
    against the real poems of the same titles, a few poems of each."""
    settings, judge = section["settings"], section["judge"]
    real = section.get("real")
    rows = [*section["generators"].items(), *([("real", real)] if real else [])]
    lines = [
        "## 对比 Generator variants (constrained, same titles and seeds)",
        "",
        f"{settings['samples']} 近体 requests per variant (五绝 七绝 五律 七律 in turn) and "
        f"{settings.get('ci_requested', 0)} 词 requests (tunes the engine knows), titles of "
        f"test poems, seed {settings['seed']}; `reranked` uses alpha {settings['alpha']}; "
        "`real`: the test poems the titles came from.",
        "",
        "| variant | poems | " + " | ".join(VARIANT_COLUMNS.values()) + " |",
        "|---|---|" + "---|" * len(VARIANT_COLUMNS),
    ]
    for name, row in rows:
        values = " | ".join(cell(row.get(c)) for c in VARIANT_COLUMNS)
        lines.append(f"| {name} | {row['n']}/{row['requested']} | {values} |")
    lines += [
        "",
        f"Judge (fresh, trained on {judge['train_real']} val poems and as many samples of "
        f"all variants, 近体 only): held-out AUC {cell(judge['test_auc'])} on "
        f"{judge['test_real']} test poems vs {judge['test_fake']} samples; real test poems' "
        f"mean realness {cell(judge['real_realness'])}.",
    ]
    if "reranked" not in section["generators"]:
        lines.append(f"No `reranked` variant: `{settings['base']}/discriminator` does not exist.")
    for name, critic in section["critics"].items():
        lines.append(f"Critic of `{name}` (its own discriminator): AUC {cell(critic['test_auc'])}.")
    lines += render_content(rows, section.get("content_judge"))
    lines += ["", "### 示例 Examples", ""]
    for name, row in section["generators"].items():
        shown = [s for s in row["samples"] if s["text"]][:3]
        lines += [f"- {name} {s['form']}《{s['title']}》 {s['text']}" for s in shown]
    return [*lines, ""]


def render_content(rows: list[tuple[str, dict]], judge: dict | None) -> list[str]:
    """One table, variant × form and real × form: paste it into the model card."""
    if not any("content" in row for _, row in rows):
        return []
    lines = [
        "",
        "### 内容 Content: generated vs real, same titles",
        "",
        "| variant | form | n | " + " | ".join(CONTENT_COLUMNS.values()) + " |",
        "|---|---|---|" + "---|" * len(CONTENT_COLUMNS),
    ]
    for name, row in rows:
        for group, label in CONTENT_GROUPS.items():
            found = row.get("content", {}).get(group)
            if found is None:
                continue
            values = " | ".join(cell(found.get(c)) for c in CONTENT_COLUMNS)
            lines.append(f"| {name} | {label} | {found['n']} | {values} |")
    if judge:
        lines += [
            "",
            f"Topic judge: title/body character co-occurrence of {judge['train_works']} train "
            f"works ({judge['title_chars']} title × {judge['body_chars']} body characters); "
            f"word classes of {judge['word_classes']} characters from jieba's dictionary; "
            f"built in {judge['seconds']} s. Chance for retrieval@20 is 0.05.",
        ]
    return lines
