"""An exponential moving average of the weights a run trains (Polyak averaging, ``--ema-decay``).

The average is a shadow: it never feeds back into training, so a run with it follows exactly the trajectory of the
same run without it, and one run yields both the plain final weights (``medpclip.safetensors``) and their average
(``medpclip_ema.safetensors``). A fine-tune on a few patients wanders between nearby minima from step to step; the
average of the last few hundred steps is a common, cheap way to land nearer their middle (Polyak & Juditsky 1992;
the "EMA" of SAM's and CLIP's own trainers). Its shadow tensors travel in the trainer's state file under keys
``ema::<name>`` so that ``--resume`` continues the same average.
"""

from __future__ import annotations

import copy

import torch

STATE_PREFIX = "ema::"


class WeightAverage:
    """shadow = decay * shadow + (1 - decay) * weights, after every optimiser step, over the model's floating-point
    parameters and buffers (frozen ones stay equal to the model's). It starts at the weights it is given."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"an average's decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = {n: t.detach().clone() for n, t in model.state_dict().items() if t.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.shadow:
                self.shadow[name].lerp_(value.detach(), 1.0 - self.decay)

    def averaged(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` that carries the averaged weights (the model itself is left as it is)."""
        out = copy.deepcopy(model)
        out.load_state_dict({**model.state_dict(), **self.shadow})
        return out

    def state(self) -> dict[str, torch.Tensor]:
        return {STATE_PREFIX + n: t.detach().cpu().contiguous() for n, t in self.shadow.items()}

    def load_state(self, state_file) -> None:
        """Take the ``ema::<name>`` tensors of the trainer's state file (an open ``safetensors.safe_open``)."""
        for key in state_file.keys():
            if key.startswith(STATE_PREFIX):
                name = key[len(STATE_PREFIX):]
                self.shadow[name] = state_file.get_tensor(key).to(self.shadow[name].device, self.shadow[name].dtype)
