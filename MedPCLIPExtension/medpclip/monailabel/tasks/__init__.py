"""MONAI Label tasks of the MedP-CLIP app: infer (interactive, identify, find), fine-tune, strategies."""
