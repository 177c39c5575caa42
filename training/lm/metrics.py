"""Sample-quality measures, plain enough to state in one sentence each (see `DEFINITIONS`).

All work on characters: a poem's text is split into 句 and each 句's closing mark dropped.
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from yinshi.prosody.text import split_lines, strip_mark

COPY_MIN_CHARS = 5
"""Shorter lines (三字句 in 词) recur everywhere by chance; copying them says nothing."""

FORMAT_KINDS = frozenset({"lines", "length"})
RHYME_KINDS = frozenset({"rhyme", "repeat_rhyme"})
TONE_KINDS = frozenset({"tone", "nian", "dui", "gu_ping", "san_ping"})

DEFINITIONS = {
    "format": "格式正确率: share of poems whose line count and every line length are those of "
    "the form (近体) or the tune (词, from the 词牌 table; else the tune's most common shape "
    "in train).",
    "rhyme": "押韵正确率: share of poems with the right format and no rhyme violation "
    "(出韵, 仄韵 in 近体, repeated rhyme character) from the 格律 engine (平水韵; 词林正韵 "
    "classes for 词).",
    "tone": "平仄正确率: share of poems with the right format and no tone violation from the "
    "engine (a fixed position of the wrong tone, 失粘, 失对, 孤平, 三平尾; 三仄尾 and "
    "characters of unknown tone at free positions are forgiven).",
    "conform": "合律率: share of poems the engine passes outright (no error of any kind).",
    "distinct_1": "distinct-1: distinct characters / all characters, over all samples of the "
    "form (marks excluded).",
    "distinct_2": "distinct-2: distinct character bigrams / all bigrams (within lines), over all "
    "samples of the form.",
    "self_bleu_2": "self-BLEU-2: mean over samples of BLEU-2 (characters, uniform weights, "
    "brevity penalty, +0.1 smoothing of empty n-gram matches) of each sample against all "
    "other samples of the form as references; lower means more varied.",
    "self_bleu_4": "self-BLEU-4: the same with 1- to 4-grams.",
    "copy": f"copy rate: share of generated lines (of at least {COPY_MIN_CHARS} characters) "
    "found verbatim among the lines of the training split.",
    "ppl": "perplexity: exp of the mean negative log-likelihood of the body tokens (characters, "
    "marks and <eos>) of the test works, each conditioned on its form/tune/title prompt.",
    "ppl_base": "ppl under base (variants): perplexity of a variant's poems (their bodies, "
    "each after its own form/title prompt) under the base model; how far a tuned poet has "
    "wandered from the language it learnt (lower: closer to the base model's taste).",
    "realness": "judge realness (variants): mean P(real) a fresh judge gives a variant's 近体 "
    "poems. The judge is a discriminator trained for the comparison only, from the base "
    "weights, on real 近体 of the validation split against samples of every variant in equal "
    "shares, written with other seeds; no variant was tuned against it. It is trained and "
    "measured on 近体 only (the 词 requests get no realness). Its held-out AUC (real test "
    "poems vs the measured samples) says how much its verdicts are worth: near 0.5 it cannot "
    "tell real from generated at all.",
    "unique_first_lines": "unique first lines (variants): distinct first lines / poems; a "
    "collapsed poet keeps opening the same way.",
    "variants": "variants: `base` is the checkpoint as the worker serves it (taste weights, and "
    "its critic's log-realness in the ranking when one is shipped); `taste` the same without "
    "the critic; `before` the engine as it was before either (the 格律 rules alone, two "
    "candidates a poem: seed for seed the poems it wrote then); `reranked` base with its own "
    "discriminator's log-realness added to the ranking score (alpha), `adversarial` the "
    "adversarially tuned checkpoint. All write the same requests (--samples 近体: 五绝 七绝 五律 "
    "七律 in turn; then --ci-samples 词: test 词 whose tune the engine knows, the tune as form; "
    "titles of test poems, the same seeds) under full 格律 constraints, so conformance (a "
    "fresh analysis of every poem) must stay 1. In the variants table distinct-n, self-BLEU "
    "and copy rate are over all of a variant's poems together, not per form; self-BLEU over "
    "a fixed random subsample of at most 200 of them (it is quadratic).",
    "real": "real (variants): the test poems whose titles the requests carry, one per request, "
    "measured exactly like a variant's poems (合律率 by the same analysis: real poems break "
    "rules; ppl under base, realness, distinct-n, copy, content).",
    "poems_per_s": "poems/s (variants): poems written / wall seconds of writing them (all "
    "requests, batched as in the comparison, on its device).",
    "repeats": "重字/首: extra uses of characters per poem: adjacent repeats within a line "
    "(叠字, 萧萧) collapse to one use, then characters − distinct characters over the whole "
    "poem; 有重字: share of poems with at least one.",
    "retrieval": "retrieval@20: share of poems whose true title outscores 19 distractor "
    "titles (other test titles of the same form, seeded per request, so a variant's poem and "
    "the real one meet the same distractors; ties share the win; chance 0.05). A title's "
    "score: the sum over its characters of their mean positive PMI with the poem's characters "
    "minus what they have with a typical poem, from title/body character co-occurrence over "
    "the train split. A 词 titled by its tune alone has no topic (194 of 200 test 词): — where "
    "a form's test titles are too few to draw 19 distractors from.",
    "title_use": "用题字 title use: share of poems whose body uses a character of the title "
    "(虚字 and series numbering such as 其二 aside; the tune name aside for 词), over poems "
    "whose title has such a character. The topic judge's top associates were tried and left "
    "out: any random title's top-3 associates turn up in 60% of real poems.",
    "parallel": "对仗 (律诗): share of positions of the 颔联 (lines 3–4) and 颈联 (5–6) where the "
    "two characters differ and share a coarse word class (noun verb adj adv num pron func): "
    "the class carrying most of the frequency of the jieba dictionary entries containing the "
    "character (names and idioms aside). No corpus couplet statistics enter it. Modern "
    "classes are a rough proxy: on the real test 律诗 the 颔联 and 颈联 score 0.51, the 首联 "
    "0.37, the 尾联 0.29, a line 3 paired with another poem's line 4 0.34.",
    "xuzi_end": "句末虚字: share of line ends (the last character of every 句) that are 虚字: "
    "particles, conjunctions and prepositions, negations, as listed once in "
    "`training.lm.content.XUZI`.",
    "mask_nll": "mask NLL (variants): mean over a variant's poems of the engine's mask cost, "
    "the mean over sampled characters of −log P(allowed set): how much of the model's "
    "probability the 格律 mask took away (— for real poems, or an engine that does not "
    "report it).",
}


def poem_lines(text: str) -> list[str]:
    """The poem's lines without their marks (empty lines dropped)."""
    return [line for line in (strip_mark(x) for x in split_lines(text)) if line]


def ngrams(line: str, n: int) -> list[str]:
    return [line[i : i + n] for i in range(len(line) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams over all n-grams (within lines) of all texts; 0 when there are none."""
    grams = [g for text in texts for line in poem_lines(text) for g in ngrams(line, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: str, references: Sequence[str], max_n: int) -> float:
    """Sentence BLEU of one text against references, over characters (lines joined)."""
    hyp = "".join(poem_lines(hypothesis))
    refs = ["".join(poem_lines(r)) for r in references]
    if not hyp or not refs:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hyp, n))
        total = sum(counts.values())
        if total == 0:
            return 0.0
        ceiling: Counter = Counter()
        for ref in refs:
            for gram, count in Counter(ngrams(ref, n)).items():
                ceiling[gram] = max(ceiling[gram], count)
        matched = sum(min(count, ceiling[gram]) for gram, count in counts.items())
        log_precision += math.log((matched or 0.1) / total) / max_n
    closest = min((len(r) for r in refs), key=lambda length: (abs(length - len(hyp)), length))
    brevity = 1.0 if len(hyp) > closest else math.exp(1 - closest / len(hyp))
    return brevity * math.exp(log_precision)


def self_bleu(texts: Sequence[str], max_n: int) -> float:
    """Mean BLEU of each text against all the others; 0 for fewer than two texts."""
    if len(texts) < 2:
        return 0.0
    scores = [bleu(text, [*texts[:i], *texts[i + 1 :]], max_n) for i, text in enumerate(texts)]
    return sum(scores) / len(scores)


def corpus_lines(texts: Iterable[str]) -> set[str]:
    """Every line (without mark) of the given texts that is long enough to count as a copy."""
    return {line for text in texts for line in poem_lines(text) if len(line) >= COPY_MIN_CHARS}


def copy_rate(texts: Iterable[str], known_lines: set[str]) -> float:
    """Share of long-enough lines of ``texts`` found in ``known_lines``; 0 when there are none."""
    lines = [line for text in texts for line in poem_lines(text) if len(line) >= COPY_MIN_CHARS]
    return sum(line in known_lines for line in lines) / len(lines) if lines else 0.0


def share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0
