"""The character-level tokenizer: one token per character, plus the control tokens of the format.

Classical verse is counted in characters (five or seven to a line), so a character vocabulary
lets the generator and the 格律 engine speak about the same units. A `tokenizers` WordLevel
model over a one-character pre-tokenizer does the splitting; the control tokens (``<bos>``,
``<七绝>``, ``<浣溪沙>``…) are registered as special tokens, which the library matches before
pre-tokenization, so each stays a single id. Saved as a `PreTrainedTokenizerFast`, so
``AutoTokenizer.from_pretrained(dir)`` loads it with no code of ours.
"""

from collections import Counter
from collections.abc import Iterable, Mapping

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from model.prompt import BOS, EOS, PAD, SEP, UNK, clean_title, control_tokens, tune_token

MIN_CHAR_COUNT = 3
"""A character seen fewer times than this in training is `<unk>`: too rare to learn anyway."""

MIN_TUNE_COUNT = 50
"""A 词牌 with fewer training examples than this shares the plain `<词>` token."""


def frequent_tunes(records: Iterable[Mapping], min_count: int = MIN_TUNE_COUNT) -> list[str]:
    """Tunes with at least ``min_count`` works, most common first (ties by name, for stable ids)."""
    counts = Counter(r["tune"] for r in records if r.get("tune"))
    kept = [(tune, n) for tune, n in counts.items() if n >= min_count]
    return [tune for tune, _ in sorted(kept, key=lambda item: (-item[1], item[0]))]


def char_counts(records: Iterable[Mapping]) -> Counter:
    """Characters of every title and body, as the format will present them."""
    counts: Counter = Counter()
    for record in records:
        counts.update(clean_title(record.get("title") or ""))
        counts.update(record["text"])
    return counts


def build_tokenizer(
    records: list[Mapping],
    min_char_count: int = MIN_CHAR_COUNT,
    min_tune_count: int = MIN_TUNE_COUNT,
    max_length: int = 192,
) -> PreTrainedTokenizerFast:
    """A tokenizer for the training records: control tokens first, then characters by frequency."""
    tunes = frequent_tunes(records, min_tune_count)
    specials = control_tokens(tunes)
    counts = char_counts(records)
    kept = [char for char, n in counts.items() if n >= min_char_count]
    chars = sorted(kept, key=lambda char: (-counts[char], char))
    vocab = {token: i for i, token in enumerate([*specials, *chars])}

    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        sep_token=SEP,
        extra_special_tokens=specials[5:],
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )


def tokenizer_tunes(tokenizer: PreTrainedTokenizerFast, candidates: Iterable[str]) -> set[str]:
    """Those of ``candidates`` that are single tokens of ``tokenizer`` (the rest go without)."""
    vocab = tokenizer.get_vocab()
    return {tune for tune in candidates if tune_token(tune) in vocab}
