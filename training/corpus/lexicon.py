"""Build `lexicon.safetensors` (see `model.generation.lexicon`) from the training split.

    python -m training.corpus.lexicon data/corpus model/weights/small

Both tables score partners by smoothed log-ratios of observed to expected co-occurrence,
log((n_xy + a) / (n_x·n_y/N + a)): the pseudo-count ``a`` pulls rare pairs towards 0, so a
partner needs many poems behind it, and characters used everywhere (不 人 无) score about 0
against every title. The ``K`` partners kept are those with the most evidence (count ×
log-ratio), so a common partner is kept before a rare variant form. Validation and test
poems are never counted, so an evaluation on test titles measures how the tables generalise.

- topic: per work, every (title character, distinct body character) pair, counted over works;
- pair: per 律诗 (8 lines of 5 or 7), every aligned pair of the 颔联 (lines 3–4) and the
  颈联 (lines 5–6), first line → second line, identical characters left out;
- doubling: the share of a character's uses in which it is doubled (XX within a line), over
  `DOUBLING_SHARE`, capped at 1.
"""

import argparse
import json
import sys
import time
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from model.generation.lexicon import FILE_NAME, MAX_SCORE, save_lexicon
from model.prompt import clean_title
from training.lm.data import read_records
from training.lm.metrics import poem_lines
from yinshi.prosody.text import is_cjk

PARTNERS = 32
"""Partners kept per character: 2 tables × V × K × 4 bytes ≈ 2.5 MB for K = 32."""
TOPIC_SMOOTHING = 5.0
PAIR_SMOOTHING = 2.0
MIN_COUNT = 3
"""A partner seen together fewer times than this is noise, whatever its ratio."""
COUPLETS = ((2, 3), (4, 5))
DOUBLING_SHARE = 0.05
"""A character doubled in this share of its uses or more is a 叠字 word (萧 悠 漫 …: weight
1); one doubled less often gets proportionally less (出 almost never: about 0)."""


def _ids(text: str, vocab: dict[str, int]) -> list[int]:
    return [vocab[c] for c in text if is_cjk(c) and c in vocab]


def topic_counts(records: Iterable[dict], vocab: dict[str, int], size: int) -> np.ndarray:
    """[size, size] works whose title has character t (row) and whose body has c (column)."""
    counts = np.zeros(size * size, dtype=np.int64)
    chunk: list[np.ndarray] = []
    for record in records:
        title = sorted(set(_ids(clean_title(record.get("title") or ""), vocab)))
        body = sorted(set(_ids(record["text"], vocab)))
        if title and body:
            chunk.append((np.array(title)[:, None] * size + np.array(body)[None, :]).ravel())
        if len(chunk) >= 20_000:
            counts += np.bincount(np.concatenate(chunk), minlength=size * size)
            chunk = []
    if chunk:
        counts += np.bincount(np.concatenate(chunk), minlength=size * size)
    return counts.reshape(size, size)


def pair_counts(records: Iterable[dict], vocab: dict[str, int], size: int) -> np.ndarray:
    """[size, size] aligned (first line, second line) pairs of 律诗 middle couplets."""
    found: list[int] = []
    for record in records:
        if record["form"] not in ("五律", "七律"):
            continue
        lines = poem_lines(record["text"])
        if len(lines) != 8 or len({len(line) for line in lines}) != 1:
            continue
        for first, second in COUPLETS:
            for a, b in zip(lines[first], lines[second], strict=True):
                if a != b and a in vocab and b in vocab and is_cjk(a) and is_cjk(b):
                    found.append(vocab[a] * size + vocab[b])
    return np.bincount(np.array(found, dtype=np.int64), minlength=size * size).reshape(size, size)


def doubling(records: Iterable[dict], vocab: dict[str, int], size: int) -> torch.Tensor:
    """[size] how readily each character is doubled, in [0, 1] (see `DOUBLING_SHARE`)."""
    uses = np.zeros(size)
    doubled = np.zeros(size)
    for record in records:
        for line in poem_lines(record["text"]):
            chars = _ids(line, vocab)
            np.add.at(uses, chars, 1)
            pairs = [a for a, b in pairwise(chars) if a == b]
            np.add.at(doubled, pairs, 2)
    share = np.divide(doubled, uses, out=np.zeros(size), where=uses >= MIN_COUNT)
    return torch.from_numpy(np.clip(share / DOUBLING_SHARE, 0.0, 1.0)).float()


def top_partners(
    counts: np.ndarray, row_totals: np.ndarray, col_totals: np.ndarray, total: float, smooth: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """[V, K] ids and scores of each row's best partners by the smoothed log-ratio."""
    size = counts.shape[0]
    ids = np.zeros((size, PARTNERS), dtype=np.int64)
    scores = np.zeros((size, PARTNERS), dtype=np.float32)
    for start in range(0, size, 512):
        block = counts[start : start + 512].astype(np.float32)
        expected = row_totals[start : start + 512, None] * col_totals[None, :] / total
        ratio = np.log((block + smooth) / (expected + smooth))
        ratio[(block < MIN_COUNT) | (ratio < 0)] = 0.0
        # ranked by count × log-ratio: a common partner (春 → 花) before a rare variant (鶑)
        best = np.argsort(-(block * ratio), axis=1)[:, :PARTNERS]
        ids[start : start + 512] = best
        scores[start : start + 512] = np.take_along_axis(ratio, best, axis=1)
    scores = np.clip(scores, 0.0, MAX_SCORE)
    ids[scores == 0] = 0
    return torch.from_numpy(ids), torch.from_numpy(scores)


def build(corpus: Path, model_dir: Path) -> dict:
    """Write the lexicon beside the model's weights; returns a summary with examples."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    vocab = {
        token: i
        for token, i in AutoTokenizer.from_pretrained(str(model_dir)).get_vocab().items()
        if len(token) == 1 and is_cjk(token)
    }
    size = max(vocab.values()) + 1
    records = read_records(corpus, "train")
    topic = topic_counts(records, vocab, size)
    works = sum(1 for r in records if _ids(clean_title(r.get("title") or ""), vocab))
    title_totals = np.zeros(size)
    body_totals = np.zeros(size)
    for record in records:
        title = set(_ids(clean_title(record.get("title") or ""), vocab))
        if title:
            title_totals[list(title)] += 1
            body_totals[list(set(_ids(record["text"], vocab)))] += 1
    topic_ids, topic_scores = top_partners(topic, title_totals, body_totals, works, TOPIC_SMOOTHING)
    del topic
    pairs = pair_counts(records, vocab, size)
    pair_ids, pair_scores = top_partners(
        pairs, pairs.sum(1), pairs.sum(0), max(pairs.sum(), 1), PAIR_SMOOTHING
    )
    save_lexicon(
        model_dir / FILE_NAME,
        {
            "topic_ids": topic_ids,
            "topic_scores": topic_scores,
            "pair_ids": pair_ids,
            "pair_scores": pair_scores,
            "doubling": doubling(records, vocab, size),
        },
    )
    chars = {i: c for c, i in vocab.items()}

    def examples(ids: torch.Tensor, scores: torch.Tensor, keys: str) -> dict[str, str]:
        """The strongest partners of a few characters, to read."""
        found = {}
        for key in keys:
            row = vocab.get(key)
            if row is not None:
                found[key] = "".join(chars[int(i)] for i in ids[row][scores[row] > 0][:12])
        return found

    return {
        "works": works,
        "aligned_pairs": int(pairs.sum()),
        "bytes": (model_dir / FILE_NAME).stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
        "topic": examples(topic_ids, topic_scores, "春江秋夜梅送边月"),
        "pair": examples(pair_ids, pair_scores, "山红三风月"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(build(args.corpus, args.model), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
