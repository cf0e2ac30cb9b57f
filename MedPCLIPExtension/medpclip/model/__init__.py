"""MedP-CLIP network, configurations and checkpoint I/O."""

from .checkpoint import Checkpoint, CheckpointError, default_checkpoint_path, load_checkpoint, new_checkpoint, save_checkpoint
from .config import CONFIGS, MedPCLIPConfig, get_config
from .medpclip import MedPCLIP, PromptedOutput, Prompts, SliceFeatures

__all__ = ["Checkpoint", "CheckpointError", "CONFIGS", "MedPCLIP", "MedPCLIPConfig", "PromptedOutput", "Prompts",
           "SliceFeatures", "default_checkpoint_path", "get_config", "load_checkpoint", "new_checkpoint",
           "save_checkpoint"]
