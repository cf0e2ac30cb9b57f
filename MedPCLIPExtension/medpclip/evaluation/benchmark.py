"""The benchmark harness (issue 7, DESIGN.md section 8): MedP-CLIP and its peers on the same prompts, one run.

Per case, on the held-out axial slices only (``data.holdout.eval_slices``: the trained model never sees them):

- 2D, per (slice, structure >= ``min_pixels`` px), for each first prompt (one click at the max-EDT point, or the
  tight box): correction clicks at the max-EDT point of the largest error component (positive if missed, negative
  if spilled), each method's own previous result deciding its next click (``protocol.simulate``). Dice / IoU after
  every interaction; Dice@1/3/5/9; NoC@85 / NoC@90 on IoU, simulated up to ``noc_max`` (20) interactions, cap 20.
- 3D, per structure present (>= ``min_pixels`` px) on a held-out slice: the structure's tight 3D box *within the
  held-out slab*, prompted on the box's middle slice (MedP-CLIP propagates inside the box; the baselines run in 3D
  from the same box), then 3D correction clicks at the max-EDT point (in mm) of the largest 3D error component.
  Dice and surface Dice (tolerance ``surface_tolerance_mm``) over the slab.
- Recognition (MedP-CLIP): per 2D item, the structure prompted by its mask, its box and one click; the case's own
  label names ranked (Top-1 / Top-5) and the whole vocabulary (Top-1).
- Latency: trunk per slice on a cold session, per click on cached slices, 3D propagation on a cold session; and
  the compute of a SAM ViT-B (1024 x 1024) encoder + decoder on the same slices, as a ratio to ours.

Outputs: ``results.json``, ``results.md``, ``dice_vs_clicks.png`` and ``example_*.png`` in the output folder.

With ``BenchmarkOptions.patients`` the same harness runs patient-level instead (``evaluation/patients.py``): only the
listed patients' cases, every labelled slice, results per dataset.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy import ndimage

from ..data.cases import Case, load_case
from ..data.datalist import CaseSpec, load_cases
from ..data.volume import VolumeError
from ..data.geometry import Orientation, extract_slice, insert_slice
from ..data.holdout import DEFAULT_FRACTION, eval_slices, slice_holdout_fraction
from ..fileio import atomic_write
from .baselines import growcut_2d, growcut_3d, region_grow_2d, region_grow_3d
from ..data.masks import dice, iou, largest_error_component, noc, tight_box
from .protocol import Predictor, _canon_to_input_point, engine_predictor, simulate

log = logging.getLogger(__name__)

METHODS = ("medpclip", "growcut", "regiongrow")
REPORT_CLICKS = (1, 3, 5, 9)
NOC_CAP = 20


@dataclass
class BenchmarkOptions:
    data: str | Sequence[str]          # datalist JSON(s) / data root(s) (``load_specs``)
    out: str
    methods: tuple[str, ...] = METHODS
    clicks: int = 9
    first_prompts: tuple[str, ...] = ("click", "box")
    noc_max: int = NOC_CAP             # interactions simulated for NoC (0: only ``clicks``)
    min_pixels: int = 20
    volumes: bool = True               # the 3D protocol
    max_cases: int | None = None
    max_trials: int | None = None      # per case: the N largest 2D items and the N largest 3D structures
    holdout_fraction: float | None = None  # None: the checkpoint's own hold-out fraction (default 0.2)
    max_slices: int | None = None      # per case, at most N evaluated slices, evenly spaced (``case_items``)
    views: str | None = None           # engine view mode: prompt (default), context, whole (the first release)
    patients: tuple[str, ...] | None = None  # patient-level mode (evaluation/patients.py): these patients' cases
    surface_tolerance_mm: float = 3.0
    sam_repeats: int = 2               # timed SAM encoder runs (0: compute (FLOPs) comparison only)
    overlays: int = 4
    progress: bool = True
    command: str = ""


# -- metrics --------------------------------------------------------------------------------------------------
def surface_dice(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float], tolerance_mm: float) -> float:
    """Normalised surface Dice (NSD): share of both surfaces within ``tolerance_mm`` of the other; spacing in
    array-axis order. 1.0 when both are empty, 0.0 when only one is."""
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    if not p.any() and not t.any():
        return 1.0
    if not p.any() or not t.any():
        return 0.0
    sp = tuple(float(s) for s in spacing)

    def surface(m):
        return m & ~ndimage.binary_erosion(m, border_value=0)

    sp_, st_ = surface(p), surface(t)
    dt_t = ndimage.distance_transform_edt(~st_, sampling=sp)
    dt_p = ndimage.distance_transform_edt(~sp_, sampling=sp)
    close = (dt_t[sp_] <= tolerance_mm).sum() + (dt_p[st_] <= tolerance_mm).sum()
    return float(close / (sp_.sum() + st_.sum()))


def max_edt_point_3d(mask: np.ndarray, spacing: Sequence[float]) -> tuple[int, int, int] | None:
    """(k, row, col) of the voxel deepest inside a 3D mask, distances in mm; lowest index on ties."""
    m = np.asarray(mask, bool)
    if not m.any():
        return None
    edt = ndimage.distance_transform_edt(np.pad(m, 1), sampling=tuple(float(s) for s in spacing))[1:-1, 1:-1, 1:-1]
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(edt)), m.shape))


def correction_click_3d(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float]):
    """((k, row, col), label) in the largest 3D error component (missed -> 1, spilled -> 0); None if equal."""
    error = largest_error_component(pred, target)
    if error is None:
        return None
    label, comp = error
    return max_edt_point_3d(comp, spacing), label


# -- cases ----------------------------------------------------------------------------------------------------
def _has_image(folder: Path) -> bool:
    return any(p.is_file() and p.name.split(".")[0] == "image" for p in folder.iterdir())


def walk_cases(root: str | Path) -> list[CaseSpec]:
    """Cases of one data root: a datalist JSON, a case folder, or a folder whose sub-folders are case folders or
    *groups* of case folders (``/work/shared/training/btcv_2d/ABD_001_100/``): a sub-folder without an image is
    walked one level down; one holding neither (``vocabulary/``, label maps only) is skipped.

    Each case is parsed by ``data.datalist.load_cases`` (so meta.json / patient handling stays there). Used by the
    patient-level mode only: ``data.datalist`` deliberately treats a group folder as a root of its own (so that
    ``Resources/SampleData/heldout_patients`` stays out of a training or slice-level run on ``Resources/SampleData``);
    selecting by patient id makes walking into groups safe."""
    root = Path(root)
    if not root.exists():
        raise VolumeError(f"{root}: no such datalist file or folder")
    if root.is_file() or _has_image(root):
        return load_cases(root)
    specs: list[CaseSpec] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _has_image(sub) or any(q.is_dir() and _has_image(q) for q in sub.iterdir()):
            specs += load_cases(sub)  # a case folder, or a group of case folders (load_cases lists its cases)
        else:
            log.debug("%s: no case folders, skipped", sub)
    if not specs:
        raise VolumeError(f"{root}: no case folders (image.*, label.*, labels.json) found, also one level down")
    return specs


def load_specs(data: str | Path | Sequence[str | Path], walk: bool = False) -> list[CaseSpec]:
    """The cases of one or more data roots, in order (``walk``: ``walk_cases``, else ``data.datalist.load_cases``:
    a group folder is not walked into); the same image twice is kept once, two different cases with one name are
    an error (results are keyed by case name)."""
    roots = [data] if isinstance(data, (str, Path)) else list(data)
    specs: list[CaseSpec] = []
    seen: dict[str, Path] = {}
    for root in roots:
        for spec in (walk_cases(root) if walk else load_cases(root)):
            image = Path(spec.image).resolve()
            if spec.name in seen:
                if seen[spec.name] == image:
                    continue
                raise VolumeError(f"two cases are named {spec.name!r} ({seen[spec.name]} and {image}); "
                                  "case names must be unique across --data roots")
            seen[spec.name] = image
            specs.append(spec)
    return specs


def spaced_slices(slab: Sequence[int], canon_label: np.ndarray, n: int | None) -> list[int]:
    """At most ``n`` of ``slab``'s slices, evenly spaced over those holding any label (the centres of ``n`` equal
    parts: the first and last labelled slices, where structures are a few pixels, are not picked); all of them
    when ``n`` is None or not smaller."""
    slab = list(slab)
    labelled = [k for k in slab if canon_label[k].any()] or slab
    if n is None or n >= len(labelled):
        return labelled if n is not None else slab
    picks = np.unique(np.floor((np.arange(n) + 0.5) * len(labelled) / n).astype(int))
    return [labelled[i] for i in picks]


# -- items ----------------------------------------------------------------------------------------------------
@dataclass
class Item2D:
    idx: int          # canonical axial slice
    value: int        # label value
    concept: Any
    pixels: int


@dataclass
class Item3D:
    value: int
    concept: Any
    box: tuple[int, int, int, int, int, int]   # (x0, y0, k0, x1, y1, k1) canonical, inside the slab
    mid: int
    voxels: int


def case_items(case: Case, fraction: float, min_pixels: int, max_trials: int | None,
               max_slices: int | None = None) -> tuple[list[int], list[Item2D], list[Item3D]]:
    """Held-out slab (``fraction`` 1.0: the whole labelled extent), its 2D items (on at most ``max_slices``
    evenly spaced slices) and 3D structures (tight boxes within the slab)."""
    slab = eval_slices(case.canon_label, fraction)
    items2d, items3d = [], []
    for idx in spaced_slices(slab, case.canon_label, max_slices):
        lab2d = extract_slice(case.canon_label, "axial", idx)
        for value, concept in case.concepts.items():
            px = int((lab2d == value).sum())
            if px >= min_pixels:
                items2d.append(Item2D(idx, value, concept, px))
    sub = case.canon_label[slab[0]:slab[-1] + 1]
    for value, concept in case.concepts.items():
        m = sub == value
        if not any(m[i].sum() >= min_pixels for i in range(len(slab))):
            continue
        ks, rows, cols = np.nonzero(m)
        k0, k1 = int(ks.min()) + slab[0], int(ks.max()) + slab[0]
        items3d.append(Item3D(value, concept, (int(cols.min()), int(rows.min()), k0, int(cols.max()), int(rows.max()), k1),
                              (k0 + k1) // 2, int(m.sum())))
    if max_trials is not None:
        keep = set(sorted(range(len(items2d)), key=lambda i: -items2d[i].pixels)[:max_trials])
        items2d = [it for i, it in enumerate(items2d) if i in keep]
        keep = set(sorted(range(len(items3d)), key=lambda i: -items3d[i].voxels)[:max_trials])
        items3d = [it for i, it in enumerate(items3d) if i in keep]
    return slab, items2d, items3d


# -- methods --------------------------------------------------------------------------------------------------
class MethodRunner:
    """One method over one case at a time: a 2D predictor per slice and a 3D box(+clicks) call."""

    name = ""
    recognises = False

    def __init__(self) -> None:
        self.ms: list[float] = []          # wall time of every interaction (2D), ms

    def open(self, case: Case) -> None:
        raise NotImplementedError

    def predictor2d(self, idx: int) -> Predictor:
        raise NotImplementedError

    def run3d(self, box: tuple, mid: int, points: list[tuple[int, int, int, int]]) -> np.ndarray:
        """-> canonical bool volume."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _timed(self, fn: Callable[..., np.ndarray]) -> Predictor:
        def predict(points, box):
            t = time.perf_counter()
            out = fn(points, box)
            self.ms.append((time.perf_counter() - t) * 1000)
            return out
        return predict


class MedPCLIPRunner(MethodRunner):
    name = "medpclip"
    recognises = True

    def __init__(self, engine, views: str | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.views = views                  # engine view mode (None: the engine's default)
        self.session = None
        self.latencies: list[dict] = []     # engine latency dicts of the 2D interactions
        self.latencies3d: list[dict] = []

    def open(self, case: Case, encode: Sequence[int] = ()) -> None:
        self.session = self.engine.open(case.image, views=self.views)
        if encode:  # warm the held-out slab (+-2) so background prefetch never competes with a timed click
            n = self.session.n_slices("axial")
            self.session.features("axial", sorted({min(n - 1, max(0, i + d)) for i in encode for d in range(-2, 3)}))

    def predictor2d(self, idx: int) -> Predictor:
        return self._timed(engine_predictor(self.session, idx, self.latencies))

    def _ijk(self, x, y, k) -> list[float]:
        return _canon_to_input_point(self.session, x, y, k)

    def run3d(self, box, mid, points) -> np.ndarray:
        s = self.session
        x0, y0, k0, x1, y1, k1 = box
        prompt = {"space": "ijk", "box": self._ijk(x0, y0, k0) + self._ijk(x1, y1, k1), "mode": "3d",
                  "slice": s.input_slice_index("axial", mid),
                  "points": [self._ijk(c, r, k) for k, r, c, _ in points], "point_labels": [lab for *_, lab in points]}
        res = s.segment(prompt)
        self.latencies3d.append(res.latency_ms)
        return s.orient.array_to_canonical(res.mask) > 0

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


class _ClassicalRunner(MethodRunner):
    """Baselines see the same intensity-normalised canonical volume as the model (CT abdomen window, MR percentile
    scaling, both to [0, 1]). Measured on the sample data, that helps GrowCut from clicks on CT (Dice@1 0.16 vs
    0.06 on raw HU, where the full HU range dwarfs soft-tissue contrast) and changes nothing else."""

    def open(self, case: Case) -> None:
        self.image = np.ascontiguousarray(case.canon_image, dtype=np.float32)
        self.spacing = tuple(float(s) for s in case.canon_spacing[::-1])   # (k, row, col) mm


class GrowCutRunner(_ClassicalRunner):
    name = "growcut"

    def predictor2d(self, idx):
        img = self.image[idx]
        return self._timed(lambda points, box: growcut_2d(img, points, box))

    def run3d(self, box, mid, points):
        return growcut_3d(self.image, box, mid, points)


class RegionGrowRunner(_ClassicalRunner):
    name = "regiongrow"

    def predictor2d(self, idx):
        img = self.image[idx]
        return self._timed(lambda points, box: region_grow_2d(img, points, box))

    def run3d(self, box, mid, points):
        return region_grow_3d(self.image, box, mid, points, self.spacing)


# -- recognition ----------------------------------------------------------------------------------------------
def recognition(runner: MedPCLIPRunner, case: Case, item: Item2D, names: list[str],
                dataset_names: list[str] | None = None) -> dict[str, bool]:
    """Top-1 / Top-5 among the case's own label names (``top1``, ``top5``; suffix ``_box`` / ``_point`` for those
    prompts), among every label name of the run's cases (``top1_dataset``...) and Top-1 over the whole built-in
    vocabulary (mask prompt). A case with a single label is trivially right among its own names."""
    s, eng = runner.session, runner.engine
    target = extract_slice(case.canon_label, "axial", item.idx) == item.value
    vol = np.zeros(case.canon_label.shape, bool)
    insert_slice(vol, "axial", item.idx, target)
    x0, y0, x1, y1 = tight_box(target)
    r, c = np.unravel_index(int(np.argmax(ndimage.distance_transform_edt(np.pad(target, 1))[1:-1, 1:-1])), target.shape)
    sl = s.input_slice_index("axial", item.idx)
    prompts = {
        "mask": dict(mask=s.to_input(vol)),
        "box": dict(prompt={"space": "ijk", "slice": sl, "box": runner._ijk(x0, y0, item.idx) + runner._ijk(x1, y1, item.idx)}),
        "point": dict(prompt={"space": "ijk", "slice": sl, "points": [runner._ijk(c, r, item.idx)], "point_labels": [1]}),
    }
    out = {}
    cid = item.concept.id
    for kind, kw in prompts.items():
        region = s.region_embedding(**kw)
        ranked = eng.rank(region, names, 5, case.modality)
        sfx = "" if kind == "mask" else f"_{kind}"
        out[f"top1{sfx}"] = ranked[0]["id"] == cid
        out[f"top5{sfx}"] = any(x["id"] == cid for x in ranked)
        if dataset_names:
            ranked = eng.rank(region, dataset_names, 5, case.modality)
            out[f"top1_dataset{sfx}"] = ranked[0]["id"] == cid
            out[f"top5_dataset{sfx}"] = any(x["id"] == cid for x in ranked)
        if kind == "mask":
            out["top1_all_vocabulary"] = eng.rank(region, None, 1, case.modality)[0]["id"] == cid
    return out


# -- latency --------------------------------------------------------------------------------------------------
def cold_latency(engine, case: Case, slab: list[int], items3d: list[Item3D], structures: int = 3) -> dict[str, list[float]]:
    """Trunk per slice on a fresh session (no cache, no prefetch); 3D propagation on fresh sessions (trunk work
    included) for the case's ``structures`` largest structures, each over its full extent from its largest slice."""
    out: dict[str, list[float]] = {"trunk_ms": [], "propagate_slices": [], "propagate_s": []}
    warm = engine.open(case.image)  # the first torch call of a process pays one-off setup (~0.7 s): not a trunk
    warm.features("axial", slab[:1])
    warm.close()
    s = engine.open(case.image)
    for idx in slab:
        _sync(engine.device)
        t = time.perf_counter()
        s.features("axial", [idx])
        _sync(engine.device)
        out["trunk_ms"].append((time.perf_counter() - t) * 1000)
    s.close()
    for item in sorted(items3d, key=lambda it: -it.voxels)[:structures]:
        m = case.canon_label == item.value
        ks, rows, cols = np.nonzero(m)
        k = int(np.argmax(m.sum(axis=(1, 2))))
        s = engine.open(case.image)
        ijk = lambda x, y, kk: _canon_to_input_point(s, x, y, kk)  # noqa: E731
        res = s.segment({"space": "ijk", "mode": "3d", "slice": s.input_slice_index("axial", k),
                         "box": ijk(cols.min(), rows.min(), ks.min()) + ijk(cols.max(), rows.max(), ks.max())})
        s.close()
        if "propagate_ms" in res.latency_ms and len(res.slices) > 1:  # a run that stopped at once measures nothing
            out["propagate_slices"].append(len(res.slices) - 1)
            out["propagate_s"].append(res.latency_ms["propagate_ms"] / 1000)
    return out


def _sync(dev) -> None:
    if getattr(dev, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(dev)


def _flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def sam_speed_peer(engine, slices: list[np.ndarray], trunk_ms: float | None, prompt_ms: float | None,
                   repeats: int = 2) -> dict[str, Any]:
    """Compute cost of SAM ViT-B (image encoder at 1024 x 1024 + prompt encoder / mask decoder for one click)
    against MedP-CLIP's trunk per slice and prompted blocks + decoder per click, on the same slices.

    SAM's architecture with random weights (``segment_anything.build_sam_vit_b(checkpoint=None)``): cost only,
    no accuracy. FLOPs are counted with ``torch.utils.flop_counter`` (SAM's encoder on the meta device, so counting
    is free); wall time is measured in this process with the same torch threads when ``repeats`` > 0."""
    import torch

    try:
        import segment_anything as sa
        from segment_anything.utils.transforms import ResizeLongestSide
    except ImportError as exc:  # pragma: no cover - depends on the environment
        return {"available": False, "reason": f"segment-anything is not installed ({exc}); pip install segment-anything"}
    from ..model.medpclip import Prompts

    dev = engine.device
    out: dict[str, Any] = {
        "model": "SAM ViT-B (segment_anything.build_sam_vit_b), random weights: compute cost only",
        "input": "1024 x 1024 x 3 (ResizeLongestSide + pad, SAM's usual input)", "available": True,
        "threads": torch.get_num_threads(), "device": str(dev)}
    # FLOPs, SAM
    with torch.device("meta"):
        meta = sa.build_sam_vit_b(checkpoint=None)
    enc_flops = _flops(lambda: meta.image_encoder(torch.zeros(1, 3, 1024, 1024, device="meta")))
    sam = sa.build_sam_vit_b(checkpoint=None).eval().to(dev)
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    autocast = (torch.autocast("cuda", dtype=torch.float16) if dev.type == "cuda"   # as the engine runs on CUDA
                else torch.autocast("cpu", enabled=False))

    def sam_input(sl: np.ndarray):
        rgb = np.repeat((np.clip(sl, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
        x = torch.as_tensor(transform.apply_image(rgb)).permute(2, 0, 1)[None].float().to(dev)
        return sam.preprocess(x), rgb.shape[:2], x.shape[-2:]

    x0, orig, inp = sam_input(slices[0])

    def sam_click(emb, orig_size, input_size):
        pt = transform.apply_coords(np.array([[orig_size[1] / 2, orig_size[0] / 2]]), orig_size)
        sparse, dense = sam.prompt_encoder(points=(torch.as_tensor(pt, dtype=torch.float32, device=dev)[None],
                                                   torch.ones(1, 1, dtype=torch.int, device=dev)), boxes=None, masks=None)
        low, _ = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True)
        return sam.postprocess_masks(low, tuple(input_size), orig_size) > 0

    with torch.inference_mode():
        emb0 = torch.zeros(1, 256, 64, 64, device=dev)
        click_flops = _flops(lambda: sam_click(emb0, orig, inp))
    # FLOPs, ours (one slice, one click)
    model, dev = engine.model, engine.device
    with torch.inference_mode():
        img = torch.zeros(1, 1, engine.cfg.image_size, engine.cfg.image_size, device=dev)
        feats = model.encode_slices(img)
        our_trunk = _flops(lambda: model.encode_slices(img))
        c = engine.cfg.image_size / 2
        prm = Prompts(torch.tensor([[[c, c]]], device=dev), torch.ones(1, 1, dtype=torch.long, device=dev))
        our_click = _flops(lambda: model.prompted(feats, prm))
    out["flops"] = {"sam_encoder_gflops": round(enc_flops / 1e9, 2), "sam_click_gflops": round(click_flops / 1e9, 3),
                    "ours_trunk_gflops": round(our_trunk / 1e9, 3), "ours_click_gflops": round(our_click / 1e9, 3)}
    out["flops_ratio"] = {"encoder": round(enc_flops / our_trunk, 1), "click": round(click_flops / our_click, 1),
                          "new_slice": round((enc_flops + click_flops) / (our_trunk + our_click), 1)}
    out["ratio"] = out["flops_ratio"]["new_slice"]
    out["ratio_basis"] = "FLOPs (SAM encoder + one click) / (MedP-CLIP trunk + one click), on a new slice"
    if repeats <= 0 or trunk_ms is None or prompt_ms is None:
        return out
    enc_ms, click_ms = [], []
    with torch.inference_mode(), autocast:
        for n in range(repeats):
            x, orig, inp = sam_input(slices[n % len(slices)])
            _sync(dev)
            t = time.perf_counter()
            emb = sam.image_encoder(x)
            _sync(dev)
            enc_ms.append((time.perf_counter() - t) * 1000)
            sam_click(emb, orig, inp)  # warm-up
            for _ in range(3):
                _sync(dev)
                t = time.perf_counter()
                sam_click(emb, orig, inp)
                _sync(dev)
                click_ms.append((time.perf_counter() - t) * 1000)
    e, k = float(np.median(enc_ms)), float(np.median(click_ms))
    out["time_ms"] = {"sam_encoder_ms_median": round(e, 1), "sam_click_ms_median": round(k, 1),
                      "ours_trunk_ms_median": round(trunk_ms, 2), "ours_click_ms_median": round(prompt_ms, 2),
                      "sam_encoder_runs": len(enc_ms), "sam_click_runs": len(click_ms)}
    out["time_ratio"] = {"encoder": round(e / trunk_ms, 1), "click": round(k / prompt_ms, 1),
                         "new_slice": round((e + k) / (trunk_ms + prompt_ms), 1)}
    out["ratio"] = out["time_ratio"]["new_slice"]
    out["ratio_basis"] = ("wall time (SAM encoder + one click) / (MedP-CLIP trunk + one click) on a new slice, "
                          "same process and threads")
    return out


# -- summaries ------------------------------------------------------------------------------------------------
def _mean(vals) -> float | None:
    vals = [v for v in vals if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def _at(values: list[float], k: int, clicks: int) -> float | None:
    """Value after interaction k; None when k was not simulated (k > clicks)."""
    if k > clicks or not values:
        return None
    return values[min(k, len(values)) - 1]


def summarise_2d(trials: list[dict], clicks: int) -> dict[str, Any]:
    if not trials:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(trials)}
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"dice@{k}"] = _mean(_at(t["dice"], k, clicks) for t in trials)
    out["noc85"] = round(float(np.mean([t["noc85"] for t in trials])), 2)
    out["noc90"] = round(float(np.mean([t["noc90"] for t in trials])), 2)
    out["reached85"] = round(float(np.mean([max(t["iou"]) >= 0.85 for t in trials])), 4)
    out["reached90"] = round(float(np.mean([max(t["iou"]) >= 0.90 for t in trials])), 4)
    rec = [t for t in trials if t.get("top1") is not None]
    if rec:
        for key in ("top1", "top5", "top1_box", "top5_box", "top1_point", "top5_point", "top1_dataset", "top5_dataset",
                    "top1_dataset_box", "top5_dataset_box", "top1_dataset_point", "top5_dataset_point",
                    "top1_all_vocabulary"):
            if key in rec[0]:
                out[key] = _mean(float(t[key]) for t in rec)
    return out


def summarise_3d(trials: list[dict], clicks: int) -> dict[str, Any]:
    if not trials:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(trials)}
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"dice@{k}"] = _mean(_at(t["dice"], k, clicks) for t in trials)
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"nsd@{k}"] = _mean(_at(t["nsd"], k, clicks) for t in trials)
    return out


def _pct(vals: list[float], q: float) -> float | None:
    return round(float(np.percentile(vals, q)), 2) if vals else None


# -- the run --------------------------------------------------------------------------------------------------
def make_runners(methods: Sequence[str], engine, views: str | None = None) -> list[MethodRunner]:
    runners = []
    for m in methods:
        if m == "medpclip":
            if engine is None:
                raise ValueError("method medpclip needs an engine")
            runners.append(MedPCLIPRunner(engine, views))
        elif m == "growcut":
            runners.append(GrowCutRunner())
        elif m == "regiongrow":
            runners.append(RegionGrowRunner())
        else:
            raise ValueError(f"unknown method {m!r}; use {', '.join(METHODS)}")
    return runners


def run_benchmark(engine, opts: BenchmarkOptions) -> dict[str, Any]:
    from tqdm import tqdm

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    git = git_state()
    fraction = opts.holdout_fraction
    if fraction is None:
        fraction = slice_holdout_fraction(engine.checkpoint.provenance) if engine else DEFAULT_FRACTION
    specs = load_specs(opts.data)
    if opts.max_cases:
        specs = specs[: opts.max_cases]
    cases = [load_case(s) for s in specs]
    plan = [(case, *case_items(case, fraction, opts.min_pixels, opts.max_trials, opts.max_slices)) for case in cases]
    runners = make_runners(opts.methods, engine, opts.views)
    ours = next((r for r in runners if isinstance(r, MedPCLIPRunner)), None)
    total = sum(len(runners) * (len(i2) * len(opts.first_prompts) + (len(i3) if opts.volumes else 0)) for _, _, i2, i3 in plan)
    bar = tqdm(total=total, desc="benchmark", unit="trial", disable=not opts.progress, dynamic_ncols=True)
    _warm_up_classical(runners)

    trials2d: list[dict] = []
    trials3d: list[dict] = []
    cold: dict[str, list[float]] = {"trunk_ms": [], "propagate_slices": [], "propagate_s": []}
    examples: list[dict] = []
    overlay_keys = _overlay_choice(plan, opts.overlays)
    dataset_names = list(dict.fromkeys(c.spec.labels[v] for c, *_ in plan for v in c.concepts))
    for case, slab, items2d, items3d in plan:
        names = [case.spec.labels[v] for v in case.concepts]
        if ours is not None:
            bar.set_postfix_str(f"{case.spec.name}: latency")
            for k, v in cold_latency(engine, case, slab, items3d).items():
                cold[k] += v
        for runner in runners:
            bar.set_postfix_str(f"{case.spec.name}: {runner.name}")
            if isinstance(runner, MedPCLIPRunner):
                runner.open(case, encode=slab)
            else:
                runner.open(case)
            trials2d += run_items_2d(runner, case, items2d, opts, names, dataset_names, overlay_keys, examples, bar.update)
            if opts.volumes:
                for item in items3d:
                    trials3d.append(_run_3d(runner, case, slab, item, opts))
                    bar.update()
            runner.close()
    bar.close()

    results = _assemble(engine, opts, runners, trials2d, trials3d, cold, fraction, plan)
    results["environment"] = environment(engine, opts, load_start, git)
    if ours is not None:
        slices = [extract_slice(case.canon_image, "axial", slab[len(slab) // 2]) for case, slab, _, _ in plan]
        lat = results["latency"]
        results["sam_speed_peer"] = sam_speed_peer(engine, slices, lat["trunk_ms_median"], lat["click_model_ms_median"],
                                                   opts.sam_repeats)
    else:
        results["sam_speed_peer"] = {"available": False, "reason": "medpclip was not among the methods"}
    results["environment"]["wall_s"] = round(time.perf_counter() - t_start, 1)
    write_outputs(results, opts, examples)
    return results


def run_items_2d(runner: MethodRunner, case: Case, items2d: Sequence[Item2D], opts: BenchmarkOptions, names: list[str],
                 dataset_names: list[str] | None, overlay_keys: set[tuple] = frozenset(),
                 examples: list[dict] | None = None, tick: Callable[[], Any] | None = None,
                 extra: dict[str, Any] | None = None) -> list[dict]:
    """The 2D protocol of one opened runner over one case's items: recognition (MedP-CLIP) then, per first prompt,
    the simulated click loop. One trial dict per (item, first prompt); ``extra`` is merged into each (patient mode:
    dataset, patient). Overlay examples of ``overlay_keys`` go to ``examples``."""
    trials = []
    for item in items2d:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        rec = recognition(runner, case, item, names, dataset_names) if runner.recognises else {}
        for first in opts.first_prompts:
            sim = simulate(runner.predictor2d(item.idx), target, opts.clicks, first, opts.noc_max)
            trial = {"method": runner.name, "case": case.spec.name, **(extra or {}), "modality": case.modality,
                     "structure": item.concept.id, "label": case.spec.labels[item.value],
                     "slice": _input_slice(case, item.idx), "pixels": item.pixels, "first": first,
                     "dice": [round(v, 4) for v in sim.dice], "iou": [round(v, 4) for v in sim.iou],
                     "noc85": noc(sim.iou, 0.85, NOC_CAP), "noc90": noc(sim.iou, 0.90, NOC_CAP),
                     "clicks": [list(p) for p in sim.points], "box": list(sim.box) if sim.box else None, **rec}
            trials.append(trial)
            key = (case.spec.name, item.idx, item.value, first)
            if key in overlay_keys and examples is not None:
                used = (1 if first == "click" else 0) + min(opts.clicks, len(sim.dice)) - 1
                examples.append({"key": key, "method": runner.name, "mask": sim.at_clicks,
                                 "points": sim.points[:used], "clicks": min(opts.clicks, len(sim.dice)),
                                 "box": sim.box, "image": extract_slice(case.canon_image, "axial", item.idx),
                                 "target": target, "dice": sim.dice[min(opts.clicks, len(sim.dice)) - 1],
                                 "label": case.spec.labels[item.value]})
            if tick is not None:
                tick()
    return trials


def _input_slice(case: Case, canon_idx: int) -> int:
    orient = Orientation.from_affine(case.image.affine, case.image.shape_ijk)
    c = 2  # the axial (k) canonical axis
    return int(orient.shape_ijk[orient.perm[c]] - 1 - canon_idx) if orient.flip[c] else int(canon_idx)


def _warm_up_classical(runners: list[MethodRunner]) -> None:
    """Load ITK's GrowCut module (seconds, once) before anything is timed."""
    if any(isinstance(r, GrowCutRunner) for r in runners):
        img = np.zeros((8, 8), np.float32)
        img[3:5, 3:5] = 1
        growcut_2d(img, [(4, 4, 1)])


def _overlay_choice(plan, n: int) -> set[tuple]:
    """The largest click-first 2D item of each case, cases in order, up to ``n``."""
    keys = []
    for case, _, items2d, _ in plan:
        if items2d and len(keys) < n:
            it = max(items2d, key=lambda i: i.pixels)
            keys.append((case.spec.name, it.idx, it.value, "click"))
    return set(keys)


def _run_3d(runner: MethodRunner, case: Case, slab: list[int], item: Item3D, opts: BenchmarkOptions) -> dict:
    a, b = slab[0], slab[-1] + 1
    target = case.canon_label[a:b] == item.value
    spacing = tuple(float(s) for s in case.canon_spacing[::-1])
    points: list[tuple[int, int, int, int]] = []
    dices, ious, nsds, ms = [], [], [], []
    if isinstance(runner, MedPCLIPRunner):
        runner.session.forget_feedback("axial", item.mid)
    for n in range(opts.clicks):
        t = time.perf_counter()
        pred = runner.run3d(item.box, item.mid, points)[a:b]
        ms.append((time.perf_counter() - t) * 1000)
        dices.append(round(dice(pred, target), 4))
        ious.append(round(iou(pred, target), 4))
        nsds.append(round(surface_dice(pred, target, spacing, opts.surface_tolerance_mm), 4))
        nxt = correction_click_3d(pred, target, spacing)
        if nxt is None:
            pad = opts.clicks - n - 1
            dices += [dices[-1]] * pad
            ious += [ious[-1]] * pad
            nsds += [nsds[-1]] * pad
            break
        (k, r, c), lab = nxt
        points.append((k + a, r, c, lab))
    return {"method": runner.name, "case": case.spec.name, "modality": case.modality, "structure": item.concept.id,
            "label": case.spec.labels[item.value], "box": list(item.box), "mid_slice": _input_slice(case, item.mid),
            "voxels": item.voxels, "dice": dices, "iou": ious, "nsd": nsds, "ms": [round(v, 1) for v in ms],
            "clicks": [list(p) for p in points[: max(0, len(dices) - 1)]]}


def method_summaries(runners: Sequence[MethodRunner], trials2d: list[dict], trials3d: list[dict],
                     opts: BenchmarkOptions) -> dict[str, Any]:
    """Per method: the first first-prompt's 2D summary at the top level, the others under their name, ``3d`` and
    the wall time per interaction."""
    methods: dict[str, Any] = {}
    for r in runners:
        mine = [t for t in trials2d if t["method"] == r.name]
        first = opts.first_prompts[0]
        entry = summarise_2d([t for t in mine if t["first"] == first], opts.clicks)
        entry["first_prompt"] = first
        for f in opts.first_prompts[1:]:
            entry[f] = summarise_2d([t for t in mine if t["first"] == f], opts.clicks)
        if opts.volumes:
            entry["3d"] = summarise_3d([t for t in trials3d if t["method"] == r.name], opts.clicks)
        entry["ms_per_interaction_median"] = _pct(r.ms, 50)
        entry["ms_per_interaction_p95"] = _pct(r.ms, 95)
        methods[r.name] = entry
    return methods


def _assemble(engine, opts, runners, trials2d, trials3d, cold, fraction, plan) -> dict[str, Any]:
    methods = method_summaries(runners, trials2d, trials3d, opts)
    ours = next((r for r in runners if isinstance(r, MedPCLIPRunner)), None)
    latency: dict[str, Any] = {"trunk_ms_median": None, "click_ms_median": None, "click_ms_p95": None,
                               "propagate_slices_per_s": None}
    if ours is not None:
        cached = [lat for lat in ours.latencies if lat.get("trunk_cached", 0.0) == 1.0]
        prop_n, prop_s = sum(cold["propagate_slices"]), sum(cold["propagate_s"])
        p3 = [lat for lat in ours.latencies3d if "propagate_ms" in lat and lat.get("propagate_slices_per_s", 0) > 0]
        latency = {
            "trunk_ms_median": _pct(cold["trunk_ms"], 50), "trunk_ms_p95": _pct(cold["trunk_ms"], 95),
            "click_ms_median": _pct([x["total_ms"] for x in cached], 50),
            "click_ms_p95": _pct([x["total_ms"] for x in cached], 95),
            "click_model_ms_median": _pct([x["prompt_ms"] for x in cached], 50),
            "click_model_ms_p95": _pct([x["prompt_ms"] for x in cached], 95),
            "propagate_slices_per_s": round(prop_n / prop_s, 2) if prop_s > 0 else None,
            "propagate_slices_per_s_cached": (round(sum(x["propagate_slices_per_s"] * x["propagate_ms"] / 1000 for x in p3)
                                                    / (sum(x["propagate_ms"] for x in p3) / 1000), 2) if p3 else None),
            "n": {"trunk": len(cold["trunk_ms"]), "clicks": len(cached), "propagations_cold": len(cold["propagate_s"]),
                  "propagated_slices_cold": prop_n},
            "definitions": {
                "trunk_ms": "prompt-free trunk of one new axial slice (session.features), fresh session, no cache",
                "click_ms": "session.segment() of a 2D click on a slice whose trunk is cached (end to end in the engine)",
                "click_model_ms": "the prompted blocks + mask decoder part of click_ms",
                "propagate_slices_per_s": "3D propagation from a box on a fresh session (trunk of each new slice "
                                          "included): the 3 largest structures of each case over their full extent; "
                                          "all propagated slices / all propagation time, runs that stopped at once "
                                          "left out",
                "propagate_slices_per_s_cached": "the same inside the benchmark's 3D trials (slab trunks cached)"},
        }
    return {
        "benchmark": "medpclip interactive benchmark (DESIGN.md section 8)",
        "protocol": {"clicks": opts.clicks, "first_prompts": list(opts.first_prompts), "noc_max": max(opts.clicks, opts.noc_max),
                     "noc_cap": NOC_CAP, "min_pixels": opts.min_pixels, "holdout_fraction": fraction,
                     "slices": "held-out axial slices only (medpclip.data.holdout.eval_slices)",
                     "volumes_3d": opts.volumes, "surface_tolerance_mm": opts.surface_tolerance_mm,
                     "max_trials_per_case": opts.max_trials, "cases": [c.spec.name for c, *_ in plan],
                     "items_2d": sum(len(i2) for _, _, i2, _ in plan), "items_3d": sum(len(i3) for *_, i3 in plan)},
        "methods": methods,
        "latency": latency,
        "per_structure": per_structure(trials2d, trials3d, opts.clicks),
        "trials_2d": trials2d,
        "trials_3d": trials3d,
    }


def per_structure(trials2d: list[dict], trials3d: list[dict], clicks: int) -> list[dict]:
    """One row per (case, structure): per method, click-first / box-first 2D summaries and the 3D result."""
    rows: dict[tuple[str, str], dict] = {}
    for t in trials2d + trials3d:
        key = (t["case"], t["structure"])
        row = rows.setdefault(key, {"case": t["case"], "modality": t["modality"], "structure": t["structure"],
                                    "label": t["label"], "methods": {}})
        row["methods"].setdefault(t["method"], {})
    for key, row in rows.items():
        for m, entry in row["methods"].items():
            mine = [t for t in trials2d if (t["case"], t["structure"], t["method"]) == (*key, m)]
            for first in sorted({t["first"] for t in mine}):
                sel = [t for t in mine if t["first"] == first]
                s = summarise_2d(sel, clicks)
                entry[first] = {k: v for k, v in s.items() if not k.startswith("reached")}
                row["slices"] = len(sel)
                row["pixels_mean"] = round(float(np.mean([t["pixels"] for t in sel])), 1)
            t3 = [t for t in trials3d if (t["case"], t["structure"], t["method"]) == (*key, m)]
            if t3:
                entry["3d"] = summarise_3d(t3, clicks)
    return sorted(rows.values(), key=lambda r: (r["case"], r["structure"]))


def environment(engine, opts: BenchmarkOptions, load_start, git: dict[str, Any] | None = None) -> dict[str, Any]:
    """Machine, packages, checkpoint; ``git`` = ``git_state()`` taken when the run started (others may commit
    during a long run), else taken now."""
    import importlib.metadata as md

    import torch

    def version(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": opts.command or "medpclip benchmark " + " ".join(sys.argv[2:]),
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "load_average_at_start": round(load_start, 2) if load_start is not None else None,
        "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__, "SimpleITK": version("SimpleITK"), "itk": version("itk"),
        "itk-growcut": version("itk-growcut"), "segment-anything": version("segment-anything"),
        "medpclip": version("medpclip"), **(git if git is not None else git_state()),
    }
    if engine is not None:
        ck = engine.checkpoint
        env["device"] = str(engine.device)
        env["checkpoint"] = {"path": str(ck.path), "sha256": ck.sha256, "trained": ck.trained,
                             "steps": ck.provenance.get("steps")}
    return env


def git_state() -> dict[str, Any]:
    """``git_commit`` (short HEAD) and ``git_modified`` (tracked package / test files differing from HEAD: the
    code that ran was not exactly the commit)."""
    return {"git_commit": _git_commit(), "git_modified": _git_modified()}


def _git_modified() -> list[str] | None:
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "diff", "--name-only", "HEAD", "--", "MedPCLIPExtension",
                              "Resources/Models"], capture_output=True, text=True, timeout=5)
        return out.stdout.split() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# -- outputs --------------------------------------------------------------------------------------------------
def write_outputs(results: dict[str, Any], opts: BenchmarkOptions, examples: list[dict],
                  render: Callable[[dict[str, Any]], str] | None = None) -> None:
    """results.json (written twice: before the plots, so a plotting failure keeps the numbers), plots, results.md
    (``render``, default ``markdown``)."""
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", json.dumps(results, indent=1, default=_json_default))
    plots = plot_dice_vs_clicks(results, out / "dice_vs_clicks.png")
    plots += plot_examples(examples, out, opts.methods)
    results.setdefault("outputs", {})["plots"] = [p.name for p in plots]
    (out / "results.md").write_text((render or markdown)(results))
    atomic_write(out / "results.json", json.dumps(results, indent=1, default=_json_default))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _curve(trials: list[dict], clicks: int) -> list[float]:
    return [float(np.mean([t["dice"][min(k, len(t["dice"])) - 1] for t in trials])) for k in range(1, clicks + 1)]


def plot_dice_vs_clicks(results: dict[str, Any], path: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clicks = results["protocol"]["clicks"]
    firsts = results["protocol"]["first_prompts"]
    t2, t3 = results["trials_2d"], results["trials_3d"]
    panels = [(f"2D, first prompt: {f}", [t for t in t2 if t["first"] == f]) for f in firsts]
    if t3:
        panels.append(("3D: box + propagation, 3D clicks", t3))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    colors = {"medpclip": "tab:red", "growcut": "tab:blue", "regiongrow": "tab:green"}
    xs = np.arange(1, clicks + 1)
    for ax, (title, trials) in zip(axes[0], panels):
        for m in results["methods"]:
            sel = [t for t in trials if t["method"] == m]
            if sel:
                ax.plot(xs, _curve(sel, clicks), "-o", ms=3, label=f"{m} (n={len(sel)})", color=colors.get(m))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("interactions (first prompt + correction clicks)")
        ax.set_ylabel("mean Dice")
        ax.set_ylim(0, 1)
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Dice vs clicks on {results['protocol'].get('scope', 'held-out slices')}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_examples(examples: list[dict], out: Path, methods: Sequence[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    keys = list(dict.fromkeys(e["key"] for e in examples))
    for n, key in enumerate(keys):
        sel = {e["method"]: e for e in examples if e["key"] == key}
        ms = [m for m in methods if m in sel]
        fig, axes = plt.subplots(1, len(ms), figsize=(3.6 * len(ms), 3.8), squeeze=False)
        rows, cols = np.nonzero(sel[ms[0]]["target"])
        h, w = sel[ms[0]]["target"].shape
        half = max(24, int(1.5 * max(rows.ptp(), cols.ptp()) + 8))   # zoom on the structure, context around it
        rc, cc = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
        for ax, m in zip(axes[0], ms):
            e = sel[m]
            ax.imshow(e["image"], cmap="gray", vmin=0, vmax=1)
            ax.contour(e["target"], levels=[0.5], colors="yellow", linewidths=1.0)
            if e["mask"].any():
                ax.contour(e["mask"], levels=[0.5], colors="red", linewidths=1.0)
            for r, c, lab in e["points"]:
                ax.plot(c, r, "+" if lab == 1 else "x", color="lime" if lab == 1 else "cyan", ms=7, mew=2)
            ax.set_title(f"{m}: Dice {e['dice']:.2f} after {e['clicks']} interactions", fontsize=9)
            ax.set_xlim(max(-0.5, cc - half), min(w - 0.5, cc + half))
            ax.set_ylim(min(h - 0.5, rc + half), max(-0.5, rc - half))
            ax.axis("off")
        case, idx, _, first = key
        fig.suptitle(f"{case} / {sel[ms[0]]['label']} (canonical axial slice {idx}); yellow = reference, "
                     "red = result, + / x = positive / negative clicks (zoomed: clicks outside the view are not shown)", fontsize=8)
        fig.tight_layout()
        p = out / f"example_{n + 1}_{case}_{sel[ms[0]]['label']}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths


def _fmt(v, nd=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def markdown(results: dict[str, Any]) -> str:
    p, env = results["protocol"], results.get("environment", {})
    ks = [k for k in REPORT_CLICKS if k <= p["clicks"]]
    lines = ["# MedP-CLIP benchmark results", "",
             f"- date (UTC): {env.get('date_utc')}; command: `{env.get('command')}`",
             f"- machine: {env.get('cpu')} ({env.get('cpu_count')} cores), torch {env.get('torch')} with "
             f"{env.get('torch_threads')} threads on {env.get('device', 'cpu')}; load average at start "
             f"{env.get('load_average_at_start')}; wall time {env.get('wall_s')} s",
             f"- checkpoint: {env.get('checkpoint', {}).get('path')} (sha256 {str(env.get('checkpoint', {}).get('sha256'))[:12]}, "
             f"steps {env.get('checkpoint', {}).get('steps')})",
             f"- cases: {', '.join(p['cases'])}; {p['items_2d']} (slice, structure) items and {p['items_3d']} 3D "
             f"structures on held-out slices; structures >= {p['min_pixels']} px; {p['clicks']} interactions "
             f"(NoC simulated up to {p['noc_max']}, cap {p['noc_cap']})", ""]
    for first in p["first_prompts"]:
        lines += [f"## 2D, first prompt: {first}", "",
                  "| method | n | " + " | ".join(f"Dice@{k}" for k in ks) + " | NoC@85 | NoC@90 | ms / interaction (median) |",
                  "|---|---|" + "---|" * (len(ks) + 3)]
        for m, e in results["methods"].items():
            s = e if e.get("first_prompt") == first else e.get(first, {})
            lines.append(f"| {m} | {s.get('n', 0)} | " + " | ".join(_fmt(s.get(f"dice@{k}")) for k in ks)
                         + f" | {_fmt(s.get('noc85'), 2)} | {_fmt(s.get('noc90'), 2)} | {_fmt(e.get('ms_per_interaction_median'), 1)} |")
        lines.append("")
    if p["volumes_3d"]:
        lines += ["## 3D: box on the middle held-out slice + propagation, then 3D correction clicks", "",
                  "| method | n | " + " | ".join(f"Dice@{k}" for k in ks) + " | " + " | ".join(f"NSD@{k}" for k in ks) + " |",
                  "|---|---|" + "---|" * (2 * len(ks))]
        for m, e in results["methods"].items():
            s = e.get("3d", {})
            lines.append(f"| {m} | {s.get('n', 0)} | " + " | ".join(_fmt(s.get(f"dice@{k}")) for k in ks) + " | "
                         + " | ".join(_fmt(s.get(f"nsd@{k}")) for k in ks) + " |")
        lines += ["", f"NSD: surface Dice at {p['surface_tolerance_mm']} mm.", ""]
    ours = results["methods"].get("medpclip")
    if ours and ours.get("top1") is not None:
        g = ours.get
        lines += ["## Recognition (MedP-CLIP, 2D items)", "",
                  "| prompt | Top-1, case's names | Top-5, case's names | Top-1, all cases' names | Top-5, all cases' names |",
                  "|---|---|---|---|---|"]
        for label, sfx in (("mask", ""), ("box", "_box"), ("1 click", "_point")):
            lines.append(f"| {label} | {_fmt(g(f'top1{sfx}'))} | {_fmt(g(f'top5{sfx}'))} | "
                         f"{_fmt(g(f'top1_dataset{sfx}'))} | {_fmt(g(f'top5_dataset{sfx}'))} |")
        lines += ["", f"Top-1 over the whole built-in vocabulary (mask prompt): {_fmt(g('top1_all_vocabulary'))}. "
                  "A case with one label is trivially right among its own names.", ""]
    lat = results["latency"]
    lines += ["## Latency (MedP-CLIP)", "", "| measure | value |", "|---|---|"]
    for k in ("trunk_ms_median", "trunk_ms_p95", "click_ms_median", "click_ms_p95", "click_model_ms_median",
              "click_model_ms_p95", "propagate_slices_per_s", "propagate_slices_per_s_cached"):
        if k in lat:
            lines.append(f"| {k} | {_fmt(lat[k], 2)} |")
    sam = results.get("sam_speed_peer", {})
    lines += ["", "## Speed peer: SAM ViT-B (random weights, compute cost only)", ""]
    if sam.get("available"):
        f, fr = sam["flops"], sam["flops_ratio"]
        lines += ["| | SAM ViT-B (1024 x 1024) | MedP-CLIP | ratio |", "|---|---|---|---|",
                  f"| encoder / trunk per new slice, GFLOPs | {f['sam_encoder_gflops']} | {f['ours_trunk_gflops']} | {fr['encoder']}x |",
                  f"| one click, GFLOPs | {f['sam_click_gflops']} | {f['ours_click_gflops']} | {fr['click']}x |"]
        if "time_ms" in sam:
            t, tr = sam["time_ms"], sam["time_ratio"]
            lines += [f"| encoder / trunk per new slice, ms | {t['sam_encoder_ms_median']} | {t['ours_trunk_ms_median']} | {tr['encoder']}x |",
                      f"| one click, ms | {t['sam_click_ms_median']} | {t['ours_click_ms_median']} | {tr['click']}x |"]
        lines += ["", f"Headline ratio: **{sam['ratio']}x** ({sam['ratio_basis']}); {sam['threads']} threads.", ""]
    else:
        lines += [f"Not measured: {sam.get('reason')}", ""]
    lines += ["## Per structure (2D, first prompt: click; mean over held-out slices)", "",
              "| case | structure | slices | px | " + " | ".join(f"{m} Dice@1 | {m} Dice@{ks[-1]}" for m in results["methods"])
              + " | Top-1 |", "|---|---|---|---|" + "---|" * (2 * len(results["methods"]) + 1)]
    first = p["first_prompts"][0]
    for row in results["per_structure"]:
        if "slices" not in row:
            continue
        cells = []
        for m in results["methods"]:
            s = row["methods"].get(m, {}).get(first, {})
            cells += [_fmt(s.get("dice@1"), 2), _fmt(s.get(f"dice@{ks[-1]}"), 2)]
        top1 = row["methods"].get("medpclip", {}).get(first, {}).get("top1")
        lines.append(f"| {row['case']} | {row['label']} | {row['slices']} | {row['pixels_mean']:.0f} | "
                     + " | ".join(cells) + f" | {_fmt(top1, 2)} |")
    plots = results.get("outputs", {}).get("plots", [])
    if plots:
        lines += ["", "## Plots", ""] + [f"![{x}]({x})" for x in plots]
    return "\n".join(lines) + "\n"


def brief(results: dict[str, Any]) -> dict[str, Any]:
    """results.json without the per-trial lists (what --json prints)."""
    return {k: v for k, v in results.items() if not k.startswith("trials_")}
