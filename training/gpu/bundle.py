"""What a lent GPU machine needs and cannot fetch, packed small enough to travel with the repo.

The machine reaches no network and takes at most 64 MiB with the working tree, so the prepared
corpus goes as a tar.xz of the fields training reads (title, form, tune, text: 30 MB instead
of 270 MB); training reads nothing else, so it sees the same records. Usage::

    python -m training.gpu.bundle data/corpus .gpu/corpus.tar.xz
"""

import io
import json
import sys
import tarfile
from pathlib import Path

SPLITS = ("train", "val", "test")
FIELDS = ("title", "form", "tune", "text")
EXTRA_FILES = ("stats.json", "cipai.json")


def slim_split(path: Path) -> bytes:
    """The split as JSON lines of `FIELDS` alone (absent and null fields left out)."""
    out = io.StringIO()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                kept = {k: record[k] for k in FIELDS if record.get(k) is not None}
                out.write(json.dumps(kept, ensure_ascii=False) + "\n")
    return out.getvalue().encode("utf-8")


def bundle(corpus: Path, target: Path) -> None:
    """Write ``corpus/`` (slim splits and the small side files) as one tar.xz, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with tarfile.open(partial, "w:xz") as tar:
        for split in SPLITS:
            data = slim_split(corpus / f"{split}.jsonl")
            info = tarfile.TarInfo(f"corpus/{split}.jsonl")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in EXTRA_FILES:
            if (corpus / name).is_file():
                tar.add(corpus / name, arcname=f"corpus/{name}")
    partial.replace(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m training.gpu.bundle CORPUS_DIR TARGET.tar.xz")
    bundle(Path(sys.argv[1]), Path(sys.argv[2]))
