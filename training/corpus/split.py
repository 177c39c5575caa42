"""Which split a body belongs to, decided by the body alone.

Hashing the normalised body (not the id, not a random draw) means the same text always lands in
the same split, in every run and from every source, so a duplicate the dedup missed can never
leak from train into test.
"""

import hashlib

SPLITS = ("train", "val", "test")
_BUCKETS = 100
_TRAIN_BUCKETS = 98  # 98 / 1 / 1


def bucket(body: str) -> int:
    """0..99 from the body's SHA-1."""
    digest = hashlib.sha1(body.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def split_of(body: str) -> str:
    """``train`` for buckets 0–97, ``val`` for 98, ``test`` for 99."""
    b = bucket(body)
    if b < _TRAIN_BUCKETS:
        return "train"
    return "val" if b == _TRAIN_BUCKETS else "test"
