"""The training lines as a compact set, so a generated line copied verbatim can be rejected.

A Bloom filter of every training line (its characters, without the closing mark), stored as
`train_lines.bin` next to the model: about 10 bits a line, so 2.7M lines take 3.4 MB rather
than the 22 MB of exact 8-byte digests, and the shipped checkpoint stays small. A false
positive (about 1 lookup in 100) only makes the generator resample one character; a copy is
never missed.

Lines shorter than `MIN_CHARS` are neither stored nor checked: "知否，知否" in a 词 is a form,
not a copy.

Build the file from a prepared corpus:
    python -m model.generation.copies data/corpus/train.jsonl model/weights/small
"""

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from yinshi.prosody.text import strip_mark

FILE_NAME = "train_lines.bin"
MIN_CHARS = 5
BITS_PER_LINE = 10
HASHES = 7
"""With 10 bits a line, 7 hash functions give the lowest false-positive rate (~0.8%)."""
_HEADER = np.dtype([("bits", "<u8"), ("hashes", "<u8"), ("lines", "<u8")])


def _hash_pairs(lines: Iterable[str]) -> np.ndarray:
    """[n, 2] uint64: two hashes of each line (the second odd) from one 16-byte blake2b digest.

    Read straight from the joined digests: converting through Python ints cost 7x as much.
    """
    raw = b"".join(hashlib.blake2b(line.encode("utf-8"), digest_size=16).digest() for line in lines)
    pairs = np.frombuffer(raw, dtype="<u8").reshape(-1, 2).copy()
    pairs[:, 1] |= np.uint64(1)
    return pairs


def _positions(first: np.ndarray, second: np.ndarray, hashes: int, bits: int) -> np.ndarray:
    """Double hashing: position i of a line is (h1 + i·h2) mod bits, in wrapping uint64."""
    steps = np.arange(hashes, dtype=np.uint64)
    return (first[..., None] + steps * second[..., None]) % np.uint64(bits)


class LineSet:
    """A Bloom filter of training lines; `line in lines` for a line without its mark."""

    def __init__(self, packed: np.ndarray, bits: int, hashes: int, lines: int) -> None:
        self.packed = packed
        self.bits = bits
        self.hashes = hashes
        self.lines = lines

    def __len__(self) -> int:
        return self.lines

    def __contains__(self, line: str) -> bool:
        return bool(self.contains_each([line])[0])

    def contains_each(self, lines: Sequence[str]) -> np.ndarray:
        """[len(lines)] bool, `line in self` for each: one vectorised lookup for them all.

        Replaying a decode asks this of every character that could end a line (thousands per
        row), where a lookup per line would cost tens of microseconds each.
        """
        found = np.zeros(len(lines), dtype=bool)
        checked = [i for i, line in enumerate(lines) if len(line) >= MIN_CHARS]
        if not checked or not self.lines:
            return found
        pairs = _hash_pairs(lines[i] for i in checked)
        positions = _positions(pairs[:, 0], pairs[:, 1], self.hashes, self.bits)  # [n, hashes]
        bytes_ = self.packed[positions >> np.uint64(3)]
        bits = (bytes_ >> (7 - (positions & np.uint64(7))).astype(np.uint8)) & 1
        found[checked] = bits.all(-1)
        return found

    @classmethod
    def from_lines(cls, lines) -> "LineSet":
        unique = {line for line in lines if len(line) >= MIN_CHARS}
        bits = max(64, BITS_PER_LINE * len(unique))
        pairs = _hash_pairs(unique)
        flags = np.zeros(bits, dtype=bool)
        flags[_positions(pairs[:, 0], pairs[:, 1], HASHES, bits).ravel()] = True
        return cls(np.packbits(flags), bits, HASHES, len(unique))

    def save(self, path: str | os.PathLike) -> None:
        """Atomically: a worker loading the model never reads half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = np.array([(self.bits, self.hashes, self.lines)], dtype=_HEADER)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header.tobytes())
                out.write(self.packed.tobytes())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LineSet":
        raw = np.fromfile(path, dtype=np.uint8)
        header = raw[: _HEADER.itemsize].view(_HEADER)[0]
        packed = raw[_HEADER.itemsize :]
        return cls(packed, int(header["bits"]), int(header["hashes"]), int(header["lines"]))


def corpus_lines(train_jsonl: str | os.PathLike):
    """Every line of every record of a prepared corpus split, without its mark."""
    with open(train_jsonl, encoding="utf-8") as records:
        for row in records:
            if row.strip():
                for line in json.loads(row)["lines"]:
                    yield strip_mark(line)


def write_line_set(train_jsonl: str | os.PathLike, model_dir: str | os.PathLike) -> Path:
    """Build `train_lines.bin` in a model dir from the training split it was trained on."""
    path = Path(model_dir) / FILE_NAME
    LineSet.from_lines(corpus_lines(train_jsonl)).save(path)
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m model.generation.copies TRAIN_JSONL MODEL_DIR", file=sys.stderr)
        return 2
    path = write_line_set(argv[0], argv[1])
    print(f"{len(LineSet.load(path))} lines, {path.stat().st_size} bytes → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
