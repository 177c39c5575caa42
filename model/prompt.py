"""The conditional text format the poet is trained on and prompted with.

One work is one line of text::

    <bos><七绝>春江<sep>白日依山尽，黄河入海流。欲穷千里目，更上一层楼。<eos>
    <bos><词><浣溪沙>春景<sep>一曲新词酒一杯，……<eos>

``<bos>``, one form token, a tune token for a 词 whose 词牌 has its own token, the title
(whitespace and ``<>`` removed, at most ``MAX_TITLE_CHARS``), ``<sep>``, then the body exactly
as in the corpus (every 句 with its closing full-width mark), then ``<eos>``. Everything up to
and including ``<sep>`` is the prompt; the body and ``<eos>`` are what perplexity is measured
on. Training and inference share this module so that the two can never drift apart; it must
stay free of torch.
"""

from collections.abc import Collection, Iterable, Mapping

from yinshi.prosody.forms import FORMS

PAD = "<pad>"
BOS = "<bos>"
EOS = "<eos>"
UNK = "<unk>"
SEP = "<sep>"
BASE_TOKENS = (PAD, BOS, EOS, UNK, SEP)
"""In this order, so ids 0–4 are the same in every tokenizer we build."""

MAX_TITLE_CHARS = 16
"""Long titles (prefaces, dedications) cost context and say little about the poem."""


def form_token(form: str) -> str:
    return f"<{form}>"


def tune_token(tune: str) -> str:
    return f"<{tune}>"


def control_tokens(tunes: Iterable[str] = ()) -> list[str]:
    """Every special token of the format: the base tokens, one per form, one per given tune."""
    return [*BASE_TOKENS, *(form_token(f) for f in FORMS), *(tune_token(t) for t in tunes)]


def clean_title(title: str) -> str:
    """A title that cannot smuggle in a control token and does not eat the context."""
    kept = "".join(ch for ch in title if not ch.isspace() and ch not in "<>")
    return kept[:MAX_TITLE_CHARS]


def prompt_text(form: str, title: str, tune: str | None = None) -> str:
    """The prompt for one poem; pass ``tune`` only if the tokenizer has a token for it."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; expected one of {', '.join(FORMS)}")
    head = BOS + form_token(form)
    if tune:
        head += tune_token(tune)
    return head + clean_title(title) + SEP


def body_text(body: str) -> str:
    """The scored part: the body and the end mark."""
    return body + EOS


def train_text(record: Mapping, tunes: Collection[str] | None = None) -> str:
    """One corpus record in the conditional format.

    ``tunes`` is the set of 词牌 that have their own token (None: all of them); a 词 of a rarer
    tune is written with the ``<词>`` token alone.
    """
    tune = record.get("tune")
    if tune and tunes is not None and tune not in tunes:
        tune = None
    return prompt_text(record["form"], record.get("title") or "", tune) + body_text(record["text"])
