"""What the analyser returns: plain data, JSON-able through `to_dict`."""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Violation:
    line: int
    """1-based; 0 = the whole poem (line count)."""
    pos: int
    """1-based character position; 0 = the whole line (its length)."""
    kind: str
    message: str
    severity: str = "error"
    """"error" breaks conformance; "warning" (三仄尾, 首句借邻韵, an unknown character at a
    free position) is reported and forgiven."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Analysis:
    form: str
    conforms: bool
    rules: str
    """"jinti" (近体 rules), "ci" (a 词牌), "none" (古体 and the rest: marks only)."""
    scheme: str
    lines: list[str]
    """Each line's characters, without its closing mark."""
    marks: list[str]
    """Per line and character: ○ 平, ● 仄, ⊙ either (polyphone), ? unknown."""
    violations: list[Violation] = field(default_factory=list)
    template: str | None = None
    tune: str | None = None
    rhyme_group: str | None = None
    rhyme_group_name: str | None = None
    patterns: list[str] | None = None
    """The tone pattern each line was checked against (平/仄/中), when there was one."""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["violations"] = [v.to_dict() for v in self.violations]
        return data
