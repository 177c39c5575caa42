"""The 格律 engine: readings, rules, 词牌, and `analyze`.

Cheap to import and torch-free: the bot, the generator and the corpus pipeline all use it.
"""

from .analysis import analyze
from .errors import ProsodyInputError
from .result import Analysis, Violation
from .rules import Template, allowed_tones, line_variants, templates
from .schemes import Reading, RhymeGroup, Scheme, get_scheme

__all__ = [
    "Analysis",
    "ProsodyInputError",
    "Reading",
    "RhymeGroup",
    "Scheme",
    "Template",
    "Violation",
    "allowed_tones",
    "analyze",
    "get_scheme",
    "line_variants",
    "templates",
]
