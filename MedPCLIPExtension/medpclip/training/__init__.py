"""Training: region-text sample bank, augmentation, losses, the training loop (single process or DDP)."""
