"""MedP-CLIP: a medical CLIP whose image encoder takes point, box and mask prompts at feature level.

Sub-packages: ``model`` (network + checkpoints), ``data`` (volumes, geometry, vocabulary, region-text
pairs), ``engine`` (interactive sessions used by every front-end), ``training``, ``evaluation``,
``monailabel`` (MONAI Label app) and ``cli``.
"""

__version__ = "0.1.0"
