"""Writing the prosody package's JSON data files (the 词牌 table, the usage counts)."""

import json
import os
import tempfile
from pathlib import Path


def write_rows(path: str | os.PathLike, rows: dict[str, object], compact: bool = False) -> None:
    """Write a JSON object one top-level entry per line, atomically (temp file + rename), so a
    process starting meanwhile never reads half a file and a regenerated table diffs by entry.
    ``compact``: no spaces after separators (a smaller file)."""
    separators = (",", ":") if compact else (", ", ": ")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            lines = [
                json.dumps(key, ensure_ascii=False)
                + separators[1]
                + json.dumps(value, ensure_ascii=False, separators=separators)
                for key, value in rows.items()
            ]
            out.write("{\n" + ",\n".join(lines) + "\n}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
