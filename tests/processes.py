"""Process checks shared by the tests of `yinshi run`."""

from pathlib import Path


def alive(pid: int) -> bool:
    """Running, not a zombie (where PID 1 does not reap orphans, they stay zombies)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
