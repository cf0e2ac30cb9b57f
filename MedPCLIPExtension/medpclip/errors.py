"""The error types that mean "bad input" (shown to users as one line / a 4xx), gathered in one place."""

from __future__ import annotations

from .data.geometry import GeometryError
from .data.vocabulary import VocabularyError
from .data.volume import VolumeError
from .model.checkpoint import CheckpointError
from .model.text import TextModelError


class DeviceError(ValueError):
    """A device or thread setting this machine cannot honour (``--device cuda`` without CUDA, ...)."""


class PromptError(ValueError):
    """A prompt that is malformed, empty or outside the image."""


USER_ERRORS: tuple[type[Exception], ...] = (PromptError, GeometryError, VocabularyError, VolumeError,
                                            CheckpointError, TextModelError, DeviceError,
                                            FileNotFoundError)
