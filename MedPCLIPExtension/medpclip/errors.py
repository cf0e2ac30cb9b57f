"""The error types that mean "bad input" (shown to users as one line / a 4xx), gathered in one place."""

from __future__ import annotations

from .data.geometry import GeometryError
from .data.vocabulary import VocabularyError
from .data.volume import VolumeError
from .model.checkpoint import CheckpointError
from .model.text import TextModelError


EXIT_NOT_FOUND = 1   # ``medpclip find``: nothing in the image matches the text (as grep: a clean "no")
EXIT_USAGE = 2   # argparse's own code for a malformed command line
EXIT_INPUT = 3   # bad input: the user's file, prompt or option (one clear line on stderr)


class CLIError(Exception):
    """A user-facing error of a command-line front-end: printed as one line, exit code EXIT_INPUT."""


class DeviceError(ValueError):
    """A device or thread setting this machine cannot honour (``--device cuda`` without CUDA, ...)."""


class PromptError(ValueError):
    """A prompt that is malformed, empty or outside the image."""


class TrainingOptionError(ValueError):
    """A training option that does not fit the model or data (``--trainable`` naming no module, ...)."""


USER_ERRORS: tuple[type[Exception], ...] = (PromptError, GeometryError, VocabularyError, VolumeError,
                                            CheckpointError, TextModelError, DeviceError, TrainingOptionError,
                                            FileNotFoundError)
