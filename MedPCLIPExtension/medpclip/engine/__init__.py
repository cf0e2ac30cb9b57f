"""The inference engine behind every front-end."""

from .prompt import PromptSpec
from .session import Engine, SegmentationResult, Session

__all__ = ["Engine", "PromptSpec", "SegmentationResult", "Session"]
