"""The interactive engine: one ``Engine`` per model, one ``Session`` per volume.

A session keeps the volume normalised and canonically oriented, caches the prompt-free trunk features per
slice (bounded by memory, neighbours prefetched on a background thread), and answers prompts with masks in
the input's exact geometry. All front-ends (CLI, MONAI Label app, Slicer module) call this code.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..data.geometry import (Orientation, check_inside, extract_slice, insert_slice, plane_axes, point_to_slice,
                             slice_pixel_spacing, to_ijk)
from ..data.intensity import normalise
from ..data.slices import SliceGrid, Window
from ..data.views import body_box, context_window, mask_extent, object_window, union_bounds, window_side_mm
from ..data.vocabulary import resolve, sentences
from ..data.volume import Volume, read_image, volume_from_array
from ..errors import PromptError
from ..data.masks import max_edt_point
from ..model.checkpoint import Checkpoint, load_checkpoint
from ..model.medpclip import Prompts, SliceFeatures
from .device import configure_threads, pick_device
from .prompt import PromptSpec
from .worker import BACKGROUND, ModelThread, on_model_thread

log = logging.getLogger(__name__)

# 3D propagation stop rule (per direction): stop at the first slice where the predicted quality drops below
# STOP_SCORE, the region shrinks below SHRINK x (or MIN_AREA px), or it grows beyond GROW x the previous area
# or (without an ROI) GROW_TOTAL x the prompted slice's area. Each next slice's box is the previous mask's,
# grown by a fraction of its size + a margin in mm: without an ROI a loose box (10 % + 6 mm) let masks creep
# into neighbours slice after slice (mean 3D Dice over 16 CT / MR organs of the 3 mm sample volumes from one
# click: 0.32 then, 0.45 with 5 % + 3 mm and the total cap); an ROI bounds the region already, and there the
# looser box does better (benchmark 3D Dice@1 0.633 vs 0.610). The margin is in mm, not pixels, so that fine
# in-plane pixels do not starve the box (docs/DESIGN-NOTES.md). Recalibrated on patients the model never saw
# (issue 12: BRATS patient 6, one click on each tumour sub-region, FLAIR and T1c): the first release's 0.5 / 2.5x /
# 2x and the name stop ended most propagations after 0-3 slices there (one-click 3D Dice 0.08); 0.3 / 4x / 3x
# without the name stop: 0.27 (Testing/benchmarks/sweep_views.py).
STOP_SCORE = 0.3
SHRINK = 0.15
GROW = 4.0
GROW_TOTAL = 3.0
MIN_AREA = 4
# ... and (MedP-CLIP's own signal) where the name the prompted slice's region ranks first drops out of the TOP_K
# names of the propagated slice's region: the mask has walked off its structure (one-click 3D Dice over the 18
# sample structures 0.420 -> 0.446, every change an improvement; TOP_K 3: 0.440, 1: 0.401; cosine to the
# prompted slice's embedding stopped too early at every threshold; ROI prompts unchanged; docs/DESIGN-NOTES.md)
TOP_K: int | None = None  # off by default since the patient-level calibration (5 before; see above)


def stop_reason(reason: str) -> str:
    """Words for a propagation stop rule (with the rule's current numbers)."""
    return {
        "quality": f"predicted quality below {STOP_SCORE}",
        "vanished": f"the region shrank below {SHRINK:.0%} of the previous slice's (the structure ends)",
        "grew": f"the region grew beyond {GROW}x the previous slice's (or {GROW_TOTAL}x the prompted slice's): "
                "it was spilling into a neighbour",
        "name": f"the region's name left the top {TOP_K} of the prompted slice's (it walked onto another structure)",
    }[reason]


# canonical direction +1 / -1 along each plane's axis, in patient terms (canonical: i left, j posterior, k superior)
PROPAGATION_DIRECTIONS = {"axial": {1: "superior", -1: "inferior"}, "coronal": {1: "posterior", -1: "anterior"},
                          "sagittal": {1: "left", -1: "right"}}
BOX_PAD = {"roi": (0.1, 6.0), "free": (0.05, 3.0)}  # (fraction of the mask's size, mm)
ENCODE_CHUNK = 8
# What the model looks at (docs/DESIGN-NOTES.md, "Prompt-centred views"): "prompt" = the body's context view, then
# object views around the prompt (default); "context" = the body's view only; "whole" = the whole slice, as the
# first release did (kept for ablations and comparisons)
VIEW_MODES = ("prompt", "context", "whole")
DEFAULT_VIEWS = "prompt"
# A click's refining pass is skipped when its object view would exceed this share of the context view (the object
# fills the body's view already)
REFINE_MAX_SHARE = 0.7
# The refining pass of a click (object view) is given the context view's answer as its previous mask
REFINE_FEEDBACK = False
# ... and its answer is dropped for the context view's when it reaches the edge of its view (it was framed
# around a first answer too small for the object)
BORDER_GUARD = True
# ... or when it keeps less than this share of the first answer's area (zoomed onto a part of a large organ: on the
# sample CT's liver one click went 0.59 -> 0.19 without this rule)
REFINE_MIN_KEEP = 0.6
# Boxes / prior masks answered in their object view, and 3D propagation in object views (else: the context view)
BOX_OBJECT_VIEW = True
PROPAGATION_OBJECT_VIEW = False
PROPAGATION_VIEW_SCALE = 2.0  # propagation's object view is looser than a click's: the next slices may grow


@dataclass
class SegmentationResult:
    mask: np.ndarray                      # [k, j, i] uint8, the input's exact grid
    score: float                          # predicted quality (IoU) of the prompted slice, 0..1
    plane: str
    slice_index: int                      # prompted slice, as an index of the input image
    slices: list[int]                     # canonical indices that received a mask
    latency_ms: dict[str, float]
    uncertainty: np.ndarray | None = None  # [k, j, i] float32, 0 (certain) .. 1 (boundary)
    warnings: list[str] = field(default_factory=list)
    propagation: list[dict[str, Any]] = field(default_factory=list)  # 3D: per direction, slices / where / why it stopped

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())

    def summary(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "voxels": self.voxels, "plane": self.plane,
                "slice": self.slice_index, "slices": len(self.slices),
                "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()}, "warnings": self.warnings,
                **({"propagation": self.propagation} if self.propagation else {})}


@dataclass
class _SliceResult:
    logits: torch.Tensor        # (rows, cols) logits of the slice
    low_res: torch.Tensor       # (1, 1, 4g, 4g) logits for feedback
    score: float
    region: torch.Tensor        # (E,) region embedding


@dataclass
class _History:
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: tuple | None = None
    low_res: torch.Tensor | None = None   # logits in the view ``window`` of the slice
    window: Window | None = None
    mask: np.ndarray | None = None        # the answer on the whole slice


class Engine:
    """A loaded model + its vocabulary embeddings. Thread-safe: every torch call runs, one at a time, on the
    engine's model thread (see ``worker.py`` for why one thread)."""

    def __init__(self, checkpoint: Checkpoint, device: str | None = "auto", threads: int | None = None,
                 worker: ModelThread | None = None) -> None:
        self.device = pick_device(device)
        self.threads = configure_threads(threads) if self.device.type == "cpu" else torch.get_num_threads()
        self.worker = worker or ModelThread()
        self.worker.call(torch.set_num_threads, self.threads)
        self.checkpoint = checkpoint
        self.model = checkpoint.model.to(self.device).eval()
        self.cfg = self.model.cfg
        self.autocast = self.device.type == "cuda"
        self.vocab_embeddings = self.worker.call(self._project_vocabulary)
        self.vocab_index = {v["id"]: i for i, v in enumerate(checkpoint.vocabulary)}

    def _project_vocabulary(self) -> torch.Tensor:
        with torch.inference_mode():
            feats = self.checkpoint.text_features.to(self.device)
            return self.model.project_text(feats) if len(feats) else feats

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = "auto",
                        threads: int | None = None, worker: ModelThread | None = None) -> "Engine":
        """Load a checkpoint on the model thread (torch work on a second thread costs, see worker.py). Pass
        the ``worker`` of an engine this one replaces (a newly published model) to keep one model thread."""
        worker = worker or ModelThread()
        return cls(worker.call(load_checkpoint, path, device="cpu"), device, threads, worker)

    def open(self, source: str | Path | Volume | np.ndarray, affine: np.ndarray | None = None,
             modality: str | None = None, window: str = "abdomen", cache_mb: float = 1024,
             views: str | None = None) -> "Session":
        if isinstance(source, Volume):
            volume = source
        elif isinstance(source, np.ndarray):
            volume = volume_from_array(source, affine, modality)
        else:
            volume = read_image(source, modality=modality)
        return self.worker.call(Session, self, volume, window, cache_mb, views)  # normalising uses torch (MONAI)

    def close(self) -> None:
        """Stop the model thread after its queued foreground work (queued prefetch is dropped)."""
        self.worker.close()

    # -- text side --------------------------------------------------------------------------------
    @on_model_thread
    def concept_embeddings(self, names: list[str] | None = None, modality: str = "CT"):
        """Candidate concepts and their (N, E) embeddings: the checkpoint vocabulary or the given names."""
        if names is None:
            concepts = [v for v in self.checkpoint.vocabulary if not v["id"].startswith("global:")]
            idx = [self.vocab_index[c["id"]] for c in concepts]
            return concepts, self.vocab_embeddings[idx]
        if not names:
            raise PromptError("the vocabulary is empty")
        out, embs, missing = [], [], []
        for n, name in enumerate(names):
            concept = resolve(name, strict=False)
            out.append({"id": concept.id if concept.known else name, "name": concept.name})
            if concept.id in self.vocab_index:
                embs.append(self.vocab_embeddings[self.vocab_index[concept.id]])
            else:
                embs.append(None)
                missing.append((n, concept))
        if missing:  # free text: needs the sentence encoder (loaded once per process)
            from ..model.text import shared_text_encoder

            enc = shared_text_encoder()
            for n, concept in missing:
                feats = enc.encode(sentences(concept, modality)).mean(0, keepdim=True)
                with torch.inference_mode():
                    embs[n] = self.model.project_text(F.normalize(feats, dim=-1).to(self.device))[0]
        return out, torch.stack(embs)

    @on_model_thread
    def text_embedding(self, text: str, modality: str = "CT") -> torch.Tensor:
        if not isinstance(text, str) or not text.strip():
            raise PromptError("the search text is empty")
        if len(text) > 500:
            raise PromptError(f"the search text is too long ({len(text)} characters, max 500)")
        return self.concept_embeddings([text], modality)[1][0]

    @on_model_thread
    def rank(self, region: torch.Tensor, names: list[str] | None, top_k: int, modality: str) -> list[dict[str, Any]]:
        concepts, embs = self.concept_embeddings(names, modality)
        if len(concepts) == 0:
            raise PromptError("the checkpoint has no vocabulary; give a vocabulary")
        with torch.inference_mode():
            scale = self.model.logit_scale.exp().clamp(max=100)
            probs = torch.softmax(scale * embs.float() @ region.float(), dim=0).cpu()
        order = torch.argsort(probs, descending=True)[: max(1, top_k)]
        return [{"name": concepts[i]["name"], "id": concepts[i]["id"], "score": round(float(probs[i]), 4)} for i in order]


class Session:
    """Prompts over one volume. Methods are safe to call from several threads (one model call at a time)."""

    def __init__(self, engine: Engine, volume: Volume, window: str = "abdomen", cache_mb: float = 1024,
                 views: str | None = None) -> None:
        views = views or DEFAULT_VIEWS
        if views not in VIEW_MODES:
            raise PromptError(f"unknown view mode {views!r}; use one of {', '.join(VIEW_MODES)}")
        self.views = views
        self.engine = engine
        self.model = engine.model
        self.volume = volume
        self.orient = Orientation.from_affine(volume.affine, volume.shape_ijk)
        self.canon = normalise(self.orient.array_to_canonical(volume.array), volume.modality, window)
        self.shape = self.orient.canonical_shape_ijk
        self.spacing = np.linalg.norm(self.orient.canonical_affine(volume.affine)[:3, :3], axis=0)
        cfg = engine.cfg
        per_slice = ((cfg.grid ** 2 + 1) * cfg.width + cfg.fine_channels * (cfg.image_size // 4) ** 2) * 4
        self.cache_slices = max(8, int(cache_mb * 1024 * 1024 / per_slice))
        self._cache: OrderedDict[tuple[str, int, Window], SliceFeatures] = OrderedDict()
        self._history: dict[tuple[str, int], _History] = {}
        self._closed = False
        self._cache_lock = threading.Lock()
        self.blank = bool(np.ptp(volume.array) == 0)
        self.body = body_box(self.canon, self.spacing)  # in-plane (i0, i1, j0, j1) of the body: the context view
        if self.blank:
            log.warning("%s: the volume is constant (blank); segmentation results will be empty", volume.source or "volume")

    # -- geometry helpers ---------------------------------------------------------------------------
    def n_slices(self, plane: str) -> int:
        return self.shape[plane_axes(plane)[0]]

    def grid(self, plane: str, window: Window | None = None) -> SliceGrid:
        """The model-grid mapping of a view of a ``plane`` slice (default: the whole slice)."""
        rows, cols = extract_slice(self.canon, plane, 0).shape
        return SliceGrid.create(rows, cols, slice_pixel_spacing(self.spacing, plane), self.engine.cfg.image_size,
                                window)

    def context_window(self, plane: str) -> Window:
        """The body's bounding box on ``plane`` slices: the view of first clicks and of recognition."""
        rows, cols = extract_slice(self.canon, plane, 0).shape
        if self.views == "whole":
            return 0, 0, cols, rows
        return context_window(self.body, plane, (rows, cols))

    def input_slice_index(self, plane: str, canon_idx: int) -> int:
        c = plane_axes(plane)[0]
        return int(self.orient.shape_ijk[self.orient.perm[c]] - 1 - canon_idx) if self.orient.flip[c] else int(canon_idx)

    def canon_slice_index(self, plane: str, input_idx: int) -> int:
        c = plane_axes(plane)[0]
        n = self.orient.shape_ijk[self.orient.perm[c]]
        if not 0 <= input_idx < n:
            raise PromptError(f"slice {input_idx} is outside the image (0..{n - 1} along the {plane} axis)")
        return n - 1 - input_idx if self.orient.flip[c] else input_idx

    def to_canonical_points(self, points: np.ndarray, space: str, what: str = "point") -> np.ndarray:
        ijk = to_ijk(points, space, self.volume.affine)
        check_inside(ijk, self.volume.shape_ijk, what)
        return self.orient.ijk_to_canonical(ijk)

    def canonical_mask(self, mask_kji: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask_kji)
        if mask.shape != self.volume.array.shape:
            raise PromptError(f"mask shape {mask.shape} does not match the image {self.volume.array.shape}")
        return np.ascontiguousarray(self.orient.array_to_canonical(mask > 0))

    def to_input(self, canon_kji: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.orient.array_from_canonical(canon_kji))

    # -- features -----------------------------------------------------------------------------------
    @on_model_thread
    def features(self, plane: str, indices: list[int], window: Window | None = None) -> list[SliceFeatures]:
        """Trunk features per slice for one view (default: the context view), computing missing ones in
        batches; LRU-bounded cache keyed by (plane, slice, view)."""
        window = window or self.context_window(plane)
        missing = [i for i in dict.fromkeys(indices) if (plane, i, window) not in self._cache]
        grid = self.grid(plane, window)
        for start in range(0, len(missing), ENCODE_CHUNK):
            chunk = missing[start:start + ENCODE_CHUNK]
            imgs = torch.stack([grid.image_to_model(extract_slice(self.canon, plane, i)) for i in chunk])[:, None]
            with torch.inference_mode(), self._autocast():
                feats = self.model.encode_slices(imgs.to(self.engine.device))
            with self._cache_lock:
                for n, i in enumerate(chunk):
                    self._cache[(plane, i, window)] = feats.index(n)
        out = []
        with self._cache_lock:
            for i in indices:
                self._cache.move_to_end((plane, i, window))
                out.append(self._cache[(plane, i, window)])
            while len(self._cache) > self.cache_slices:
                self._cache.popitem(last=False)
        return out

    def prefetch(self, plane: str, center: int, radius: int = 2) -> None:
        """Encode neighbouring slices in the background so the next slice's first click is cheap."""
        n = self.n_slices(plane)
        idx = [i for d in range(1, radius + 1) for i in (center - d, center + d) if 0 <= i < n]
        todo = [i for i in idx if not self.cached(plane, i)]
        if todo:
            self.engine.worker.submit(functools.partial(self._prefetch, plane, todo), BACKGROUND)

    def _prefetch(self, plane: str, indices: list[int]) -> None:
        if not self._closed:
            self.features(plane, indices)

    def cached(self, plane: str, idx: int, window: Window | None = None) -> bool:
        return (plane, idx, window or self.context_window(plane)) in self._cache

    def forget_feedback(self, plane: str | None = None, idx: int | None = None) -> None:
        """Drop the click history (feedback logits, view) of one slice, or of every slice: the next prompt
        there starts a new object."""
        if plane is None:
            self._history.clear()
        else:
            self._history.pop((plane, idx), None)

    def _autocast(self):
        if self.engine.autocast:
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)

    # -- one slice ----------------------------------------------------------------------------------
    @on_model_thread
    def predict_slice(self, plane: str, idx: int, points: list[tuple[float, float, int]],
                      box: tuple[float, float, float, float] | None = None, region_mask: np.ndarray | None = None,
                      prev_low_res: torch.Tensor | None = None, with_masks: bool = True,
                      window: Window | None = None) -> _SliceResult:
        """points (x, y, label) and box (x0, y0, x1, y1) in slice pixels; region_mask (rows, cols) bool;
        ``window`` the view (default: the context view); ``prev_low_res`` logits in that view."""
        window = window or self.context_window(plane)
        grid = self.grid(plane, window)
        feats = self.features(plane, [idx], window)[0]
        dev = self.engine.device
        pts = lab = boxes = rmask = None
        if points:
            xy = grid.to_model_xy(np.array([(p[0], p[1]) for p in points]))
            pts = torch.tensor(xy, dtype=torch.float32, device=dev)[None]
            lab = torch.tensor([[p[2] for p in points]], dtype=torch.long, device=dev)
        if box is not None:
            c = grid.to_model_xy(np.array([[box[0], box[1]], [box[2], box[3]]]))
            boxes = torch.tensor(c.reshape(1, 4), dtype=torch.float32, device=dev)
        if region_mask is not None:
            rmask = (grid.mask_to_model(region_mask) > 0.5).float()[None, None].to(dev)
        prompts = Prompts(pts, lab, boxes, rmask, prev_low_res.to(dev) if prev_low_res is not None else None)
        with torch.inference_mode(), self._autocast():
            out = self.model.prompted(feats, prompts, with_masks=with_masks)
        if not with_masks:
            return _SliceResult(torch.zeros(0), torch.zeros(0), 0.0, out.region_embedding[0].float())
        single_click = len(points) == 1 and box is None and prev_low_res is None and region_mask is None
        iou = out.iou[0].float()
        k = int(torch.argmax(iou[1:]) + 1) if single_click else 0
        low = out.masks[:, k:k + 1].float()
        logits = grid.logits_to_slice(low[0, 0]).cpu()
        return _SliceResult(logits, low.cpu(), float(iou[k].clamp(0, 1)), out.region_embedding[0].float())

    # -- prompts ------------------------------------------------------------------------------------
    def _resolve(self, spec: PromptSpec) -> tuple[int, dict[int, list[tuple[float, float, int]]], tuple | None, tuple[int, int] | None]:
        """-> (canonical start slice, points per slice, 2D box, box range on the plane's axis)."""
        plane = spec.plane
        by_slice: dict[int, list[tuple[float, float, int]]] = {}
        if spec.points:
            canon = self.to_canonical_points(np.array(spec.points), spec.space)
            for p, lab in zip(canon, spec.point_labels):
                idx, x, y = point_to_slice(p, plane, self.shape)
                by_slice.setdefault(idx, []).append((x, y, lab))
        box2d = box_range = None
        if spec.box is not None:
            b = spec.box
            corners = np.array([[x, y, z] for x in (b[0], b[3]) for y in (b[1], b[4]) for z in (b[2], b[5])])
            canon = self.to_canonical_points(corners, spec.space, "box corner")
            proj = np.array([point_to_slice(c, plane, self.shape)[1:] for c in canon])
            fixed = plane_axes(plane)[0]
            lo, hi = canon[:, fixed].min(), canon[:, fixed].max()
            box2d = (proj[:, 0].min(), proj[:, 1].min(), proj[:, 0].max(), proj[:, 1].max())
            n = self.n_slices(plane)  # a corner on the last voxel's outer face must not round past the image
            box_range = (int(np.clip(np.floor(lo + 0.5), 0, n - 1)), int(np.clip(np.floor(hi + 0.5), 0, n - 1)))
        if spec.slice is not None:
            start = self.canon_slice_index(plane, spec.slice)
        elif by_slice:
            first_pos = next((idx for idx, pts in by_slice.items() if any(p[2] == 1 for p in pts)), None)
            start = first_pos if first_pos is not None else next(iter(by_slice))
        elif box_range is not None:
            start = (box_range[0] + box_range[1]) // 2
        else:
            raise PromptError("the prompt has no points and no box")
        if spec.mode == "2d":
            others = sorted(i for i in by_slice if i != start)
            if others:
                raise PromptError(f"2D prompt points lie on several {plane} slices "
                                  f"({[self.input_slice_index(plane, i) for i in [start] + others]}); "
                                  "put them on one slice, give 'slice', or use mode 3d")
        if not any(p[2] == 1 for p in by_slice.get(start, [])) and box2d is None:
            raise PromptError("the prompted slice needs at least one positive point or a box")
        return start, by_slice, box2d, box_range

    @on_model_thread
    def segment(self, prompt: PromptSpec | dict, prior_mask: np.ndarray | None = None,
                feedback: bool = True, with_uncertainty: bool = False) -> SegmentationResult:
        """2D or 3D segmentation from a prompt; ``prior_mask`` ([k, j, i], input grid) is a mask prompt.

        With ``feedback``, a prompt that extends the previous prompt on the same slice (same points first,
        then new ones) reuses that slice's previous logits, as a correction click should.
        """
        t0 = time.perf_counter()
        spec = prompt if isinstance(prompt, PromptSpec) else PromptSpec.from_dict(prompt)
        plane = spec.plane
        start, by_slice, box2d, box_range = self._resolve(spec)
        prior2d = None
        if prior_mask is not None:
            prior2d = extract_slice(self.canonical_mask(prior_mask), plane, start)
            if not prior2d.any():
                raise PromptError("the prior mask is empty on the prompted slice")
        was_cached = self.cached(plane, start)
        if self.blank:  # nothing to see: an empty result, not an error
            return SegmentationResult(np.zeros(self.volume.array.shape, np.uint8), 0.0, plane,
                                      self.input_slice_index(plane, start), [], {"total_ms": (time.perf_counter() - t0) * 1000},
                                      np.zeros(self.volume.array.shape, np.float32) if with_uncertainty else None,
                                      ["the volume is constant (blank): empty result"])
        t1 = time.perf_counter()
        self.features(plane, [start])
        t2 = time.perf_counter()
        points = by_slice.get(start, [])
        hist = self._history.get((plane, start))
        extends = feedback and hist is not None and hist.box == box2d and len(points) > len(hist.points) \
            and points[: len(hist.points)] == hist.points
        res, window = self._answer(plane, start, points, box2d, prior2d, hist if extends else None)
        mask2d = (res.logits > 0).numpy()
        self._history[(plane, start)] = _History(list(points), box2d, res.low_res, window, mask2d)
        t3 = time.perf_counter()
        # results are written straight into input-grid arrays through canonical views (transpose / flip, no
        # copy): a full-volume reorientation copy would cost more than the click itself on a 512 x 512 x 300 CT
        mask = np.zeros(self.volume.array.shape, np.uint8)
        unc = np.zeros(self.volume.array.shape, np.float32) if with_uncertainty else None
        canon_mask = self.orient.array_to_canonical(mask)
        canon_unc = self.orient.array_to_canonical(unc) if unc is not None else None
        insert_slice(canon_mask, plane, start, mask2d)
        if canon_unc is not None:
            insert_slice(canon_unc, plane, start, _uncertainty(res.logits))
        slices = [start]
        warnings: list[str] = []
        stops: list[dict[str, Any]] = []
        latency = {"trunk_ms": (t2 - t1) * 1000, "prompt_ms": (t3 - t2) * 1000, "trunk_cached": float(was_cached),
                   "view_mm": round(window_side_mm(window, slice_pixel_spacing(self.spacing, plane)), 1)}
        if spec.mode == "3d" and mask2d.any():
            t4 = time.perf_counter()
            lo, hi = (box_range if box_range and box_range[1] > box_range[0] else (0, self.n_slices(plane) - 1))
            for direction in (1, -1):
                done, stop = self._propagate(plane, start, mask2d, res.low_res, direction, (lo, hi), by_slice, box2d,
                                             canon_mask, canon_unc, res.region, window)
                slices += done
                stops.append(self._describe_stop(plane, direction, done, stop))
            warnings += [w for st in stops if (w := st.pop("warning", None))]
            if len(slices) == 1:
                warnings.append("3D propagation kept only the prompted slice: " + "; ".join(
                    f"{st['direction']}: {st['reason']}" for st in stops))
            latency["propagate_ms"] = (time.perf_counter() - t4) * 1000
            latency["propagate_slices_per_s"] = (len(slices) - 1) / max(1e-6, latency["propagate_ms"] / 1000)
        else:
            self.prefetch(plane, start)
        latency["total_ms"] = (time.perf_counter() - t0) * 1000
        return SegmentationResult(mask, res.score, plane, self.input_slice_index(plane, start), sorted(slices), latency, unc,
                                  warnings, stops)

    def _describe_stop(self, plane: str, direction: int, done: list[int], stop: tuple[int, str] | None) -> dict[str, Any]:
        """Where and why one direction of a propagation ended (input-image slice indices), with a warning
        when it ended for another reason than the structure coming to its end."""
        name = PROPAGATION_DIRECTIONS[plane][direction]
        out: dict[str, Any] = {"direction": name, "slices": len(done)}
        if stop is None:
            out["reason"] = "reached the end of the image or ROI"
            return out
        idx, reason = stop
        out["stopped_at_slice"] = self.input_slice_index(plane, idx)
        out["reason"] = stop_reason(reason)
        if reason != "vanished":
            out["warning"] = (f"propagation {name} stopped at slice {out['stopped_at_slice']} after {len(done)} "
                              f"slice(s): {out['reason']}")
        return out

    def _answer(self, plane: str, idx: int, points: list[tuple[float, float, int]], box2d: tuple | None,
                prior2d: np.ndarray | None, hist: _History | None) -> tuple[_SliceResult, Window]:
        """Answer one slice's prompt in the right view (docs/DESIGN-NOTES.md, "Prompt-centred views"):
        a correction keeps its object's view and feeds the previous logits back; a box or a prior mask is
        answered in a view around it; clicks are answered in the context view, then once more in a view around
        that first answer."""
        spacing = slice_pixel_spacing(self.spacing, plane)
        low = self.engine.cfg.image_size // 4
        point_bounds = union_bounds(*[(p[0], p[1], p[0], p[1]) for p in points if p[2] == 1])
        if hist is not None:  # a correction: same object
            window, prev = hist.window, hist.low_res
            xy = np.array([(p[0], p[1]) for p in points])
            if not self.grid(plane, window).contains(xy, margin=2):  # the click left the view: widen it
                window = object_window(union_bounds(mask_extent(hist.mask), point_bounds), spacing)
                prev = self.grid(plane, window).slice_mask_to_low_res(hist.mask, low)[None, None]
            return self.predict_slice(plane, idx, points, box2d, prior2d, prev, window=window), window
        context = self.context_window(plane)
        if self.views != "prompt":  # every prompt in the context view (ablations, the first release's behaviour)
            prev = None if prior2d is None else self.grid(plane, context).slice_mask_to_low_res(prior2d, low)[None, None]
            return self.predict_slice(plane, idx, points, box2d, prior2d, prev, window=context), context
        if not BOX_OBJECT_VIEW and (box2d is not None or prior2d is not None):
            prev = None if prior2d is None else self.grid(plane, context).slice_mask_to_low_res(prior2d, low)[None, None]
            return self.predict_slice(plane, idx, points, box2d, prior2d, prev, window=context), context
        if box2d is not None or prior2d is not None:
            bounds = union_bounds(box2d, mask_extent(prior2d) if prior2d is not None else None, point_bounds)
            window = object_window(bounds, spacing)
            grid = self.grid(plane, window)
            prev = grid.slice_mask_to_low_res(prior2d, low)[None, None] if prior2d is not None else None
            return self.predict_slice(plane, idx, points, box2d, prior2d, prev, window=window), window
        first = self.predict_slice(plane, idx, points, None, None, None, window=context)
        first_mask = (first.logits > 0).numpy()
        bounds = union_bounds(mask_extent(first_mask), point_bounds)
        window = object_window(bounds, spacing)
        if window_side_mm(window, spacing) > REFINE_MAX_SHARE * window_side_mm(context, spacing):
            return first, context  # the object fills the body's view already
        prev = None
        if REFINE_FEEDBACK:
            prev = self.grid(plane, window).slice_mask_to_low_res(first_mask, low)[None, None]
        refined = self.predict_slice(plane, idx, points, None, None, prev, window=window)
        refined_mask = (refined.logits > 0).numpy()
        if BORDER_GUARD and _touches_border(refined_mask, window):
            return first, context  # the view cut the object: the first answer was too small to frame it
        if refined_mask.sum() < REFINE_MIN_KEEP * first_mask.sum():
            return first, context  # zoomed onto a part of a large object: the refining pass is to sharpen, not shrink
        return refined, window

    def _propagate(self, plane, start, mask2d, low_res, direction, limits, by_slice, box2d, canon_mask, canon_unc,
                   seed_region=None, seed_window: Window | None = None) -> tuple[list[int], tuple[int, str] | None]:
        """Carry the mask slice by slice: previous logits as mask prompt, its deepest point and box as prompts.
        Slices are seen in an object view around the mask, kept while the mask stays well inside it (so that
        upcoming slices are encoded ENCODE_CHUNK at a time) and re-centred when it nears an edge.
        -> (canonical slices written, (slice, reason) where a stop rule ended it or None at the range's end)."""
        done = []
        spacing = slice_pixel_spacing(self.spacing, plane)
        window = seed_window
        prev_mask, prev_low, prev_area = mask2d, low_res, int(mask2d.sum())
        max_area = GROW_TOTAL * max(prev_area, MIN_AREA) if box2d is None else np.inf
        pad_fraction, pad_mm = BOX_PAD["roi" if box2d is not None else "free"]
        pad_px = max(1.0, pad_mm / float(np.mean(slice_pixel_spacing(self.spacing, plane))))
        rows, cols = mask2d.shape
        name_embs = seed_name = None
        if seed_region is not None and TOP_K is not None and len(self.engine.vocab_embeddings):
            name_embs = self.engine.concept_embeddings(None)[1].float()
            seed_name = int(torch.argmax(name_embs @ seed_region.float()))
        idx = start + direction
        lo, hi = limits
        while lo <= idx <= hi:
            bounds = mask_extent(prev_mask)
            if self.views != "prompt" or not PROPAGATION_OBJECT_VIEW:
                window = self.context_window(plane)
            elif window is None or not self._keeps_view(window, bounds, spacing):
                new = object_window(bounds, spacing, scale=PROPAGATION_VIEW_SCALE)
                prev_low = self.grid(plane, new).slice_mask_to_low_res(prev_mask, self.engine.cfg.image_size // 4)[None, None]
                window = new
            ahead = [i for i in range(idx, idx + direction * ENCODE_CHUNK, direction) if lo <= i <= hi]
            self.features(plane, ahead, window)
            r, c = _deepest_point(prev_mask)
            pts = [(float(c), float(r), 1)] + [p for p in by_slice.get(idx, [])]
            ys, xs = np.nonzero(prev_mask)
            pad_y, pad_x = pad_px + pad_fraction * (ys.max() - ys.min()), pad_px + pad_fraction * (xs.max() - xs.min())
            box = (max(0.0, xs.min() - pad_x), max(0.0, ys.min() - pad_y), min(cols - 1.0, xs.max() + pad_x),
                   min(rows - 1.0, ys.max() + pad_y))
            res = self.predict_slice(plane, idx, pts, box, None, prev_low, window=window)
            m = (res.logits > 0).numpy()
            if box2d is not None:  # an ROI bounds the region in-plane too
                x0, y0, x1, y1 = box2d
                clip = np.zeros_like(m)
                clip[max(0, int(np.floor(y0))):int(np.ceil(y1)) + 1, max(0, int(np.floor(x0))):int(np.ceil(x1)) + 1] = True
                m &= clip
            area = int(m.sum())
            reason = None
            if res.score < STOP_SCORE:
                reason = "quality"
            elif area < max(MIN_AREA, SHRINK * prev_area):
                reason = "vanished"
            elif area > min(GROW * max(prev_area, MIN_AREA), max_area):
                reason = "grew"
            elif name_embs is not None and TOP_K is not None and _rank_of(name_embs @ res.region.float(), seed_name) >= TOP_K:
                reason = "name"
            if reason is not None:
                return done, (idx, reason)
            insert_slice(canon_mask, plane, idx, m)
            if canon_unc is not None:
                insert_slice(canon_unc, plane, idx, _uncertainty(res.logits))
            done.append(idx)
            prev_mask, prev_low, prev_area = m, res.low_res, area
            idx += direction
        return done, None

    def _keeps_view(self, window: Window, bounds: tuple, spacing: tuple[float, float]) -> bool:
        """Whether a propagated mask with inclusive ``bounds`` is still well framed by ``window``: inside it with
        a margin of 10 % of its side, and not shrunk below a third of what a fresh object view would frame."""
        x0, y0, x1, y1 = window
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        inside = bounds[0] >= x0 + mx and bounds[2] <= x1 - 1 - mx and bounds[1] >= y0 + my and bounds[3] <= y1 - 1 - my
        fresh = window_side_mm(object_window(bounds, spacing), spacing)
        return inside and fresh >= window_side_mm(window, spacing) / 3

    # -- recognition / retrieval --------------------------------------------------------------------
    @on_model_thread
    def region_embedding(self, mask: np.ndarray | None = None, prompt: PromptSpec | dict | None = None,
                         plane: str = "axial", max_slices: int = 3) -> torch.Tensor:
        """Region embedding (E,) from a mask ([k, j, i], input grid; up to ``max_slices`` largest slices
        averaged) or from a prompt (points / box on one slice). Neither: the whole-volume global embedding."""
        if mask is not None:
            canon = self.canonical_mask(mask)
            axis = plane_axes(plane)[0]
            areas = canon.sum(axis=tuple(a for a in range(3) if a != 2 - axis))
            if areas.sum() == 0:
                raise PromptError("the mask is empty: nothing to identify")
            order = [int(i) for i in np.argsort(-areas, kind="stable")[:max_slices] if areas[i] > 0]
            embs = [self.predict_slice(plane, i, [], None, extract_slice(canon, plane, i), None, with_masks=False).region
                    for i in order]
            return F.normalize(torch.stack(embs).mean(0), dim=0)
        if prompt is not None:
            spec = prompt if isinstance(prompt, PromptSpec) else PromptSpec.from_dict(prompt)
            start, by_slice, box2d, _ = self._resolve(PromptSpec(**{**spec.__dict__, "mode": "3d"}))
            return self.predict_slice(spec.plane, start, by_slice.get(start, []), box2d, None, None,
                                      with_masks=False).region
        n = self.n_slices(plane)
        ones = np.ones(extract_slice(self.canon, plane, 0).shape, bool)
        return self.predict_slice(plane, n // 2, [], None, ones, None, with_masks=False).region

    @on_model_thread
    def identify(self, mask: np.ndarray | None = None, prompt: PromptSpec | dict | None = None,
                 vocabulary: list[str] | None = None, top_k: int = 5) -> list[dict[str, Any]]:
        """Ranked names (probabilities over the vocabulary) for a region given as a mask or a prompt."""
        if mask is None and prompt is None:
            raise PromptError("identify needs a mask or a prompt")
        region = self.region_embedding(mask, prompt)
        return self.engine.rank(region, vocabulary, top_k, self.volume.modality)

    @on_model_thread
    def embed(self, mask: np.ndarray | None = None, prompt: PromptSpec | dict | None = None) -> np.ndarray:
        return self.region_embedding(mask, prompt).cpu().numpy().astype(np.float32)

    @on_model_thread
    def find(self, text: str, mode: str = "3d", grid_points: int = 6, max_slices: int = 12) -> SegmentationResult:
        """Text -> the best-matching region: automatic point prompts on a set of axial slices, ranked by
        region-text similarity; the winner is segmented (and propagated in 3D)."""
        t0 = time.perf_counter()
        target = self.engine.text_embedding(text, self.volume.modality).float()
        plane = "axial"
        n = self.n_slices(plane)
        body = [i for i in range(n) if extract_slice(self.canon, plane, i).mean() > 0.02] or list(range(n))
        step = max(1, len(body) // max_slices)
        candidates = body[::step][:max_slices]
        context = self.context_window(plane)
        grid = self.grid(plane, context)
        x0, y0, x1, y1 = context
        best = (-2.0, None)
        for idx in candidates:
            img = extract_slice(self.canon, plane, idx)
            ys = y0 + (np.arange(grid_points) + 0.5) * (y1 - y0) / grid_points
            xs = x0 + (np.arange(grid_points) + 0.5) * (x1 - x0) / grid_points
            pts = [(x, y) for y in ys for x in xs if img[int(y), int(x)] > 0.05]
            if not pts:
                continue
            feats = self.features(plane, [idx])[0]
            xy = torch.tensor(grid.to_model_xy(np.array(pts)), dtype=torch.float32, device=self.engine.device)
            b = len(pts)
            prompts = Prompts(xy[:, None], torch.ones(b, 1, dtype=torch.long, device=self.engine.device))
            batch = SliceFeatures(feats.tokens.expand(b, -1, -1), feats.fine.expand(b, -1, -1, -1))
            with torch.inference_mode(), self._autocast():
                out = self.model.prompted(batch, prompts, with_masks=False)
            sims = out.region_embedding.float() @ target
            j = int(torch.argmax(sims))
            if float(sims[j]) > best[0]:
                best = (float(sims[j]), (idx, pts[j]))
        if best[1] is None:
            raise PromptError("the image has no foreground to search")
        idx, (x, y) = best[1]
        ijk_canon = np.array([x, y, idx], dtype=float)
        ijk = (self.orient.index_matrix() @ np.r_[ijk_canon, 1.0])[:3]
        result = self.segment({"space": "ijk", "points": [ijk.tolist()], "point_labels": [1], "mode": mode},
                              feedback=False)
        result.latency_ms["find_total_ms"] = (time.perf_counter() - t0) * 1000
        result.latency_ms["similarity"] = best[0]
        return result

    def close(self) -> None:
        self._closed = True


def _touches_border(mask: np.ndarray, window: Window, margin: int = 1) -> bool:
    """Whether a slice mask reaches the edge of ``window`` (where the window lies inside the slice)."""
    rows, cols = mask.shape
    x0, y0, x1, y1 = window
    edges = []
    if x0 > 0:
        edges.append(mask[max(0, y0):min(rows, y1), x0:x0 + margin + 1])
    if x1 < cols:
        edges.append(mask[max(0, y0):min(rows, y1), x1 - 1 - margin:x1])
    if y0 > 0:
        edges.append(mask[y0:y0 + margin + 1, max(0, x0):min(cols, x1)])
    if y1 < rows:
        edges.append(mask[y1 - 1 - margin:y1, max(0, x0):min(cols, x1)])
    return any(e.any() for e in edges)


def _rank_of(scores: torch.Tensor, index: int) -> int:
    """0 for the highest score: how many entries score above ``scores[index]``."""
    return int((scores > scores[index]).sum())


def _deepest_point(mask: np.ndarray, max_side: int = 128) -> tuple[int, int]:
    """(row, col) deep inside a non-empty 2D mask. The distance transform runs on every s-th pixel (s such
    that the grid is at most ``max_side`` across): the propagation seed needs depth, not pixel precision, and a
    full-resolution EDT of a 512 x 512 slice would cost about as much as the model call."""
    step = max(1, int(np.ceil(max(mask.shape) / max_side)))
    point = max_edt_point(mask[::step, ::step]) if step > 1 else None
    if point is None:  # a thin region that the subsampling missed
        return max_edt_point(mask)
    return point[0] * step, point[1] * step


def _uncertainty(logits: torch.Tensor) -> np.ndarray:
    p = torch.sigmoid(logits.float())
    return (1 - (2 * p - 1).abs()).numpy().astype(np.float32)
