"""The inference engine behind every front-end."""

from .engine import Engine
from .prompt import PromptSpec
from .results import SegmentationResult
from .session import Session

__all__ = ["Engine", "PromptSpec", "SegmentationResult", "Session"]
