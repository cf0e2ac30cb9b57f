"""MedP-CLIP: CLIP-layout trunk with prompt fusion in its last K blocks, text projection, mask decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .config import MedPCLIPConfig
from .fusion import DensePromptEmbed, GatedCrossAttention, StrokePromptEmbed
from .click_choice import ClickChoiceHead
from .mask_decoder import MaskDecoder
from .prompt_encoder import LayerNorm2d, PromptEncoder
from .region_geometry import BASE_FEATURES, RING_FEATURES, RegionGeometryHead
from .vit import VisionTransformer


@dataclass
class Prompts:
    """Prompts in model-grid pixel coordinates (x, y); every field optional.

    points (B, N, 2) float, labels (B, N) long (1 pos, 0 neg, -1 pad), boxes (B, 4) float (x0, y0, x1, y1),
    region_mask (B, 1, S, S) binary prior / region to describe, prev_low_res (B, 1, 4g, 4g) previous logits,
    stroke_map (B, 2, S, S) painted strokes (channel 0 positive, 1 negative), fused by the strokes' own input path
    (``MedPCLIP.stroke_prompt``; drawn into the shared dense prompt map instead for the older checkpoints trained
    that way, ``MedPCLIP.strokes_in_prompt_map``).
    """

    points: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    boxes: torch.Tensor | None = None
    region_mask: torch.Tensor | None = None
    prev_low_res: torch.Tensor | None = None
    stroke_map: torch.Tensor | None = None


@dataclass
class SliceFeatures:
    """Prompt-independent features of a batch of slices: what the engine caches per slice.

    tokens (B, 1 + g*g, C): output of the prompt-free trunk blocks; fine (B, F, 4g, 4g): high-res conv features.
    """

    tokens: torch.Tensor
    fine: torch.Tensor

    def index(self, i: int | slice) -> "SliceFeatures":
        sel = slice(i, i + 1) if isinstance(i, int) else i
        return SliceFeatures(self.tokens[sel], self.fine[sel])


@dataclass
class PromptedOutput:
    """region_embedding (B, E) L2-normalised; masks (B, M, 4g, 4g) logits; iou (B, M) predicted quality;
    choice / view_choice (B, M - 1) the body's view's / the click view's choice head's scores of the multimask
    outputs (None while that head is unfitted)."""

    region_embedding: torch.Tensor
    masks: torch.Tensor
    iou: torch.Tensor
    choice: torch.Tensor | None = None
    view_choice: torch.Tensor | None = None

    def choice_of(self, n: int, body_view: bool) -> torch.Tensor | None:
        """Prompt ``n``'s scores from the choice head of its view: the body's view's (``click_choice``) or a click's
        own view's (``click_view_choice``); None while that head is unfitted."""
        scores = self.choice if body_view else self.view_choice
        return None if scores is None else scores[n]


class FineFeatures(nn.Module):
    """Two stride-2 convs: slice (B, 1, S, S) -> (B, F, S/4, S/4), for sharp decoder edges."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1), nn.GELU(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class MedPCLIP(nn.Module):
    def __init__(self, cfg: MedPCLIPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = VisionTransformer(cfg)
        self.prompt_encoder = PromptEncoder(cfg.decoder_dim, cfg.image_size, cfg.grid)
        self.dense_prompt = DensePromptEmbed(cfg.width, cfg.patch_size)
        # painted strokes have their own zero-initialised input path (issue 14): training it leaves clicks as they
        # were. Checkpoints of 2026-12-02 that painted strokes into the shared map set strokes_in_prompt_map.
        self.stroke_prompt = StrokePromptEmbed(cfg.width, cfg.patch_size)
        self.strokes_in_prompt_map = False
        self.fusion = nn.ModuleList(GatedCrossAttention(cfg.width, cfg.decoder_dim, cfg.heads)
                                    for _ in range(cfg.prompt_blocks))
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.width, cfg.decoder_dim, 1, bias=False), LayerNorm2d(cfg.decoder_dim),
            nn.Conv2d(cfg.decoder_dim, cfg.decoder_dim, 3, padding=1, bias=False), LayerNorm2d(cfg.decoder_dim),
        )
        self.fine_features = FineFeatures(cfg.in_channels, cfg.fine_channels)
        self.mask_decoder = MaskDecoder(cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads,
                                        cfg.num_multimask, cfg.fine_channels)
        # Region pooling: prompt-weighted average of the prompt-free patch tokens. It becomes one more prompt
        # token for the fusion / decoder, and a zero-initialised shortcut into the region embedding (a
        # data-efficient "linear probe" path for recognition; silent at init).
        self.region_pool_norm = nn.LayerNorm(cfg.width)
        self.region_pool_token = nn.Linear(cfg.width, cfg.decoder_dim)
        self.region_pool_proj = nn.Linear(cfg.width, cfg.embed_dim)
        nn.init.zeros_(self.region_pool_proj.weight)
        nn.init.zeros_(self.region_pool_proj.bias)
        # Where the region lies in the body and how it looks against it (model/region_geometry.py): added to the
        # region embedding when the region's mask is known; zero until the alignment stage trains it.
        self.region_geometry_head = RegionGeometryHead(cfg.embed_dim, n_features=cfg.geometry_features)
        # which multimask output answers a new click (model/click_choice.py), one head per view: the body's view and
        # the click's own view; each zero until fitted on clicks recorded in its view
        self.click_choice = ClickChoiceHead(cfg.decoder_dim, cfg.num_multimask)
        self.click_view_choice = ClickChoiceHead(cfg.decoder_dim, cfg.num_multimask)
        # which output answers a box alone (no click, no prior mask): 0, the single-mask output the box was trained
        # on, unless a checkpoint sets another (scripts/set_box_output.py; docs/RESULTS.md "Which output answers a box")
        self.register_buffer("box_output", torch.zeros(1, dtype=torch.long))
        self.text_projection = nn.Linear(cfg.text_dim, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    # -- image side -------------------------------------------------------------------------------
    def encode_slices(self, image: torch.Tensor) -> SliceFeatures:
        """image (B, 1, S, S) normalised to [0, 1] -> cached features (prompt-free blocks only)."""
        x = self.visual.embed(image)
        for block in self.visual.blocks[: self.cfg.prompt_free_blocks]:
            x = block(x)
        return SliceFeatures(tokens=x, fine=self.fine_features(image))

    def global_embedding(self, image: torch.Tensor) -> torch.Tensor:
        """Plain trunk (no prompt): image (B, 1, S, S) -> (B, E) normalised."""
        x = self.visual.embed(image)
        for block in self.visual.blocks:
            x = block(x)
        return F.normalize(self.visual.head(x), dim=-1)

    def prompted_tokens(self, feats: SliceFeatures, prompts: Prompts):
        """The prompted blocks only: -> (tokens (B, 1 + g*g, C), pooled region feature (B, C), sparse tokens)."""
        b = feats.tokens.shape[0]
        pe = self.prompt_encoder
        sparse = pe.sparse(prompts.points, prompts.labels, prompts.boxes, b)
        strokes, legacy = prompts.stroke_map, self.strokes_in_prompt_map
        prompt_map = pe.dense_prompt_map(prompts.points, prompts.labels, prompts.boxes, prompts.region_mask, b,
                                         strokes if legacy else None)
        x = feats.tokens
        pooled = self.region_pool(x[:, 1:], prompt_map)
        sparse = torch.cat([sparse, self.region_pool_token(pooled)[:, None].to(sparse.dtype)], dim=1)
        offsets = self.dense_prompt(prompt_map.to(x.dtype))
        if strokes is not None and not legacy:  # the strokes' own path (a legacy checkpoint drew them in the map)
            offsets = offsets + self.stroke_prompt(strokes.to(x.dtype))
        x = torch.cat([x[:, :1], x[:, 1:] + offsets], dim=1)
        for block, fuse in zip(self.visual.blocks[self.cfg.prompt_free_blocks:], self.fusion):
            x = fuse(block(x), sparse)
        return x, pooled, sparse

    def prompted(self, feats: SliceFeatures, prompts: Prompts, with_masks: bool = True) -> PromptedOutput:
        """Run the last K blocks with the prompt fused in, then the region head and the mask decoder."""
        b = feats.tokens.shape[0]
        x, pooled, sparse = self.prompted_tokens(feats, prompts)
        region = F.normalize(self.visual.head(x) + self.region_pool_proj(pooled), dim=-1)
        if not with_masks:
            return PromptedOutput(region, x.new_zeros(b, 0, 1, 1), x.new_zeros(b, 0))
        masks, iou, token = self.decode_masks(feats, x, sparse, prompts)
        choice = self.click_choice(token, iou, masks) if self.click_choice.fitted else None
        view_choice = self.click_view_choice(token, iou, masks) if self.click_view_choice.fitted else None
        return PromptedOutput(region, masks, iou, choice, view_choice)

    def decode_masks(self, feats: SliceFeatures, x: torch.Tensor, sparse: torch.Tensor, prompts: Prompts):
        """The mask decoder on ``prompted_tokens``' output -> (masks (B, M, 4g, 4g) logits, iou (B, M), the IoU
        token's state (B, D))."""
        b, g, pe = x.shape[0], self.cfg.grid, self.prompt_encoder
        image_embedding = self.neck(x[:, 1:].transpose(1, 2).reshape(b, -1, g, g))
        dense = pe.dense(prompts.prev_low_res, b)
        return self.mask_decoder(image_embedding, pe.dense_pe().to(x), sparse, dense, feats.fine)

    def answer_index(self, iou: torch.Tensor, single_click: bool, choice: torch.Tensor | None = None,
                     box_alone: bool = False, box_corrected: bool = False, rank: int = 0) -> int:
        """Which output answers a prompt: for a single click (ambiguous) the multimask output the click choice head
        scores highest when ``choice`` (M - 1,) is given, else the best-rated by the IoU head (``rank`` > 0: the
        next-best instead, a user's "other answer"); for a box alone (no click, no prior mask or logits) output
        ``box_output``; for a box with correction clicks the one of outputs 0 and ``box_output`` the IoU head rates
        higher; otherwise the first (single-mask) output. ``iou`` (M,) of one prompt."""
        if single_click:
            scores = choice if choice is not None else iou[1:]
            return int(torch.argsort(scores, descending=True, stable=True)[rank]) + 1
        box = int(self.box_output)
        if box_alone:
            return box
        if box_corrected and box and iou[box] > iou[0]:
            return box
        return 0

    def with_geometry(self, region: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        """region (B, E) normalised, geometry (B, N) from ``region_geometry`` -> (B, E) normalised."""
        return F.normalize(region + self.region_geometry_head(geometry.to(region)), dim=-1)

    @property
    def reads_ring(self) -> bool:
        """Whether the geometry head reads the figures of the ring around a region (model/region_geometry.py)."""
        return self.region_geometry_head.n_features > BASE_FEATURES

    @property
    def reads_shape(self) -> bool:
        """Whether the geometry head reads the region's shape figures (holes, box fill; model/region_geometry.py)."""
        return self.region_geometry_head.n_features > RING_FEATURES

    @property
    def uses_geometry(self) -> bool:
        """Whether the geometry head was trained (an untrained one adds exactly zero: skip computing it)."""
        return bool(self.region_geometry_head.net[2].weight.detach().abs().sum() > 0)

    def region_pool(self, patch_tokens: torch.Tensor, prompt_map: torch.Tensor) -> torch.Tensor:
        """patch_tokens (B, g*g, C), prompt_map (B, 3, S, S) -> normalised pooled feature (B, C).

        Weights: positive discs / region mask, plus half weight inside a box, averaged per patch.
        """
        w = prompt_map[:, :1] + 0.5 * prompt_map[:, 2:3]
        w = F.avg_pool2d(w.to(patch_tokens.dtype), self.cfg.patch_size).flatten(1)       # (B, g*g)
        pooled = (w[..., None] * patch_tokens).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-6)
        return self.region_pool_norm(pooled)

    def forward(self, image: torch.Tensor, prompts: Prompts) -> PromptedOutput:
        return self.prompted(self.encode_slices(image), prompts)

    # -- text side --------------------------------------------------------------------------------
    def project_text(self, text_features: torch.Tensor) -> torch.Tensor:
        """Frozen sentence features (N, text_dim) -> (N, E) normalised."""
        return F.normalize(self.text_projection(text_features), dim=-1)

    def parameter_counts(self) -> dict[str, int]:
        groups = {
            "trunk": self.visual, "prompt_encoder": self.prompt_encoder,
            "fusion": nn.ModuleList([self.dense_prompt, self.stroke_prompt, self.fusion, self.region_pool_norm,
                                     self.region_pool_token, self.region_pool_proj, self.region_geometry_head]),
            "mask_decoder": nn.ModuleList([self.neck, self.fine_features, self.mask_decoder, self.click_choice,
                                           self.click_view_choice]),
            "text_projection": self.text_projection,
        }
        counts = {k: sum(p.numel() for p in m.parameters()) for k, m in groups.items()}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts
