"""The card's fonts, found through fontconfig, with what each one covers.

The text face is a 楷书 (LXGW WenKai, Debian's `fonts-lxgw-wenkai`); the fallback is Noto CJK
(`fonts-noto-cjk`), which covers far more of CJK than any 楷书. Both are system packages, so
nothing is downloaded at run time and the operator's package manager keeps them patched.

Fontconfig is asked through its command-line tools (`fc-list`, `fc-query`) rather than a
Python binding: they come with every fontconfig install, answer in milliseconds, and spare
the bot a compiled dependency. `fc-match` is not used because it always answers — with
DejaVu when no CJK font exists — and a card set in DejaVu would be all boxes.

Coverage comes from each face's fontconfig charset (the code points its cmap maps), so a
character is drawn with the first face that really has it: never a .notdef box.
"""

import bisect
import functools
import logging
import subprocess
from dataclasses import dataclass, field

log = logging.getLogger("yinshi.bot")

FC_LIST = "fc-list"
FC_QUERY = "fc-query"
"""The fontconfig tools; tests point these at nothing to play a machine without fonts."""

INSTALL = "apt-get install fonts-lxgw-wenkai fonts-noto-cjk"
"""The Debian/Ubuntu packages the card is designed for (see .ci/run)."""

PREFERENCE: tuple[tuple[str, str], ...] = (
    ("LXGW WenKai", "Regular"),
    ("LXGW WenKai", "Medium"),
    ("LXGW WenKai", "Light"),
    ("AR PL UKai CN", ""),
    ("Noto Serif CJK SC", "Regular"),
    ("Noto Serif CJK SC", ""),
    ("Noto Sans CJK SC", "Regular"),
    ("Noto Sans CJK SC", ""),
)
"""(family, style) in order of preference; "" matches any style. A 楷书 first, Noto's serif
next (closer to a brush than its sans); any other Chinese face comes after these."""

TIMEOUT_S = 10.0
MAX_FACES = 3
"""The text face and two fallbacks: the faces of one CJK collection share one cmap, so more
would only add start-up time."""


class NoFontError(RuntimeError):
    """No CJK font is installed (or fontconfig is missing): no card can be drawn."""


@dataclass(frozen=True)
class Face:
    """One face of a font file (a .ttc holds several), and the code points it covers."""

    path: str
    index: int
    family: str
    style: str
    ranges: tuple[tuple[int, int], ...] = field(repr=False, compare=False, default=())

    def covers(self, char: str) -> bool:
        code = ord(char)
        starts = [low for low, _ in self.ranges]
        at = bisect.bisect_right(starts, code) - 1
        return at >= 0 and self.ranges[at][0] <= code <= self.ranges[at][1]


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise NoFontError(f"fontconfig failed: {' '.join(command[:1])}: {error}") from error
    return done.stdout


def parse_charset(text: str) -> tuple[tuple[int, int], ...]:
    """fontconfig's charset text (`20-7e a0 4e00-9fff …`, hex) → sorted inclusive ranges."""
    ranges = []
    for part in text.split():
        low, _, high = part.partition("-")
        try:
            ranges.append((int(low, 16), int(high or low, 16)))
        except ValueError:
            continue
    return tuple(sorted(ranges))


def _rank(family: str, style: str) -> int:
    for rank, (want_family, want_style) in enumerate(PREFERENCE):
        if family == want_family and (not want_style or style == want_style):
            return rank
    return len(PREFERENCE)


@functools.cache
def find_faces() -> tuple[Face, ...]:
    """Every Chinese face fontconfig knows, best first, each with its coverage.

    Raises NoFontError where there is none. Cached for the process: fonts installed later
    need a restart (as for any program using fontconfig's cache).
    """
    listing = _run(
        [FC_LIST, "--format", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n", ":lang=zh"]
    )
    found: list[tuple[int, str, int, str, str]] = []
    for row in listing.splitlines():
        parts = row.split("\t")
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        path, index, family, style = parts[0], int(parts[1]), parts[2], parts[3]
        if "Mono" in family:  # same glyphs, narrower Latin: never better for a card
            continue
        found.append((_rank(family, style), path, index, family, style))
    if not found:
        raise NoFontError("no Chinese (lang=zh) font is installed")
    found.sort()
    # The best face, then the best of each other family: one Noto weight is enough.
    chosen: list[Face] = []
    families: set[str] = set()
    for _, path, index, family, style in found:
        if family in families or len(chosen) == MAX_FACES:
            continue
        families.add(family)
        charset = _run([FC_QUERY, "--index", str(index), "--format", "%{charset}", path])
        chosen.append(Face(path, index, family, style, parse_charset(charset)))
    log.info("event=card_fonts faces=%s", ",".join(f"{f.family}/{f.style}" for f in chosen))
    return tuple(chosen)


def face_for(char: str, faces: tuple[Face, ...]) -> Face | None:
    """The first face that has a glyph for `char`, or None (then the character is left out)."""
    return next((face for face in faces if face.covers(char)), None)
