"""Which of the multimask outputs answers a single click (issue 12, docs/RESULTS.md "First click").

A single click is ambiguous, so the decoder answers it with ``num_multimask`` candidate masks. The IoU head's
ratings do not rank them the way their real quality does on patients the model never saw (it picks output 2 on
nearly every click; the best output per click would lift the first click's Dice on held-out BTCV patients from
0.36 to 0.65). This head is a linear choice over the candidates, learned from the engine's own answers on
training patients (``scripts/record_first_clicks.py``, ``scripts/fit_click_selector.py``): for each candidate, the
Dice the engine's final answer reaches when that candidate answers the context pass.

A new click is answered in two views, one batch (docs/DESIGN-NOTES.md, "A click's view around the click"): the
click's own view (on CT a 160 mm square) and the body's view, whose answer wins where a check says the click view's
is a fragment or a blob. Each view has its own head, fitted on clicks recorded in that view
(``record_first_clicks.py --view body|click``): ``MedPCLIP.click_choice`` for the body's view (the only one before
session 49, fitted when the body's view was a click's first pass) and ``MedPCLIP.click_view_choice`` for the click's
view. A head is asked only in its own view: the features of a 160 mm view and of the whole body's differ, and a head
fitted on one and asked in the other picks worse than the IoU head (docs/RESULTS.md, session 49).

Its inputs are what the decoder already computed: the IoU token's state (what the decoder made of the prompt and
the region), the candidates' predicted IoUs and their areas (log share of the view), both also relative to the
candidates' mean. It is zero until fitted; an unfitted head leaves the choice to the IoU head, so checkpoints
without it answer exactly as before.

``margin`` is how much better than the IoU head's own pick the head must score another candidate before it
overrides it (a bonus on the IoU head's pick). A linear head fitted to the average Dice gains most on small and
tubular structures but, unchecked, also overrides the IoU head on large organs of new patients, where the small
candidate is a fragment (docs/RESULTS.md "First click"); the margin keeps only its confident choices.
"""

from __future__ import annotations

import torch
from torch import nn

MIN_AREA = 1e-4  # log area share floor (an empty candidate)


def candidate_areas(masks: torch.Tensor) -> torch.Tensor:
    """masks (B, M + 1, h, w) logits -> (B, M + 1) share of the view each output covers."""
    return (masks > 0).float().mean((-1, -2))


def choice_features(token: torch.Tensor, iou: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """token (B, D), iou (B, M + 1), area (B, M + 1) from ``candidate_areas`` -> (B, D + 4 M); output 0
    (single-mask) is not a candidate for a single click."""
    scores = iou[:, 1:].float()
    log_area = torch.log(area[:, 1:].float().clamp(min=MIN_AREA))
    return torch.cat([token.float(), scores, log_area, scores - scores.mean(1, keepdim=True),
                      log_area - log_area.mean(1, keepdim=True)], dim=1)


class ClickChoiceHead(nn.Module):
    def __init__(self, token_dim: int, num_multimask: int) -> None:
        super().__init__()
        self.proj = nn.Linear(token_dim + 4 * num_multimask, num_multimask)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.register_buffer("margin", torch.zeros(1))

    @property
    def fitted(self) -> bool:
        return bool(self.proj.weight.detach().abs().sum() + self.proj.bias.detach().abs().sum() > 0)

    def forward(self, token: torch.Tensor, iou: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """-> (B, M) scores of the multimask outputs 1..M (higher: answers the click better), the IoU head's pick
        raised by ``margin``."""
        return self.scores(choice_features(token, iou, candidate_areas(masks)), iou)

    def scores(self, features: torch.Tensor, iou: torch.Tensor) -> torch.Tensor:
        """features (B, F) from ``choice_features``, iou (B, M + 1) -> (B, M), as ``forward`` (which the fitting
        script's recorded features reuse)."""
        scores = self.proj(features)
        iou_pick = nn.functional.one_hot(iou[:, 1:].argmax(1), scores.shape[1]).to(scores)
        return scores + self.margin.to(scores) * iou_pick
