"""The training loop: region-text contrastive + decoder mask loss with a simulated correction click.

Single process, or one process per rank under ``torchrun`` (torch.distributed data parallelism: gloo on
CPU, nccl on GPU; gradients averaged with one all-reduce per step).
Every step's randomness is derived from (seed, step, rank), so a run is deterministic for its seed and
``--resume`` continues exactly where the saved step left off.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F

from ..data.cases import Case
from ..data.holdout import DEFAULT_FRACTION
from ..data.region_prompts import SampledPrompt, nearest_inside, sample_prompt
from ..data.stroke_sim import sample_strokes
from ..errors import TrainingOptionError
from ..fileio import atomic_write
from ..model.checkpoint import (OPTIONAL_PREFIXES, Checkpoint, checkpoint_provenance, load_checkpoint,
                                load_matching_weights, save_checkpoint)
from ..model.config import get_config
from ..model.medpclip import MedPCLIP, Prompts
from .augment import SliceAugmenter
from .corrections import with_corrections
from .distill import Distiller
from .loss_curve import plot_loss_curve
from .losses import mask_loss, region_text_loss
from .sample_bank import SampleBank
from .data_sources import load_training_cases
from .text_bank import build_text_bank, global_concept
from .weight_average import STATE_PREFIX, WeightAverage

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "medpclip.safetensors"
AVERAGE_NAME = "medpclip_ema.safetensors"  # the weights' moving average, with --ema-decay (weight_average.py)
STATE_NAME = "trainer_state.safetensors"
MIN_MODEL_PIXELS = 16


@dataclass
class TrainOptions:
    data: str
    out: str
    config: str = "tiny"
    max_steps: int = 1000
    batch_size: int = 12
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup: int = 100
    seed: int = 0
    resume: bool = False
    planes: tuple[str, ...] = ("axial",)
    holdout_fraction: float = DEFAULT_FRACTION
    global_share: float = 0.1
    save_every: int = 250
    threads: int | None = None
    init_from: str | None = None
    max_minutes: float | None = None      # stop (and save) after this wall time
    holdout_patients: tuple[str, ...] = ()  # whole patients left out of training (patient-level evaluation)
    synth: str | None = None               # folder of label maps for SynthSeg-style synthetic images
    synth_volumes: int = 2                 # synthetic images per label map
    synth_tumours: int = 0                 # more synthetic images per label map with a brain tumour drawn in
    synth_tumour_share: float = 0.0        # their share of the samples (0: part of the synthetic 15 %)
    synth_tumour_contrast: str = "random"  # "random" or "sequence" (FLAIR- / T1c-like sub-regions)
    max_slices_per_plane: int | None = None  # per case and plane, evenly over the labelled extent
    flip_rows: float = 0.3                 # share of samples flipped anterior <-> posterior (augment.py)
    wide_ct_looks: bool = False            # CT also in wider 8-bit export looks (augment.wide_export_look)
    stroke_share: float = 0.0              # share of region samples prompted by simulated strokes (issue 14)
    annotator_stroke_share: float = 0.0    # share of those painted annotator-style (stroke_sim.sample_strokes)
    trainable: tuple[str, ...] = ()        # train only parameters under these module names (empty: all)
    clip_weight: float = 1.0               # weight of the region-text loss (0: masks only, naming left alone)
    iou_rank_weight: float = 0.0           # ranking loss on the predicted IoUs of a click's multimask outputs
    correction_rounds: int = 1             # simulated corrections per step: a random 1..R (the last trained)
    local_view_share: float = 0.0          # share of region samples in a click-centred local view, one click at
                                           # the visible structure's pixel nearest the view's centre
    box_on_box_output: bool = False        # train a box alone on model.box_output instead of output 0 (measured
                                           # worse, docs/RESULTS.md "Candidate of 2026-12-05")
    distill_weight: float = 0.0            # keep the first prompt's answers near the --init-from model's (LwF)
    ema_decay: float = 0.0                 # > 0: also save a moving average of the weights (weight_average.py)
    command: str = ""


@dataclass
class Batch:
    images: torch.Tensor          # (B, 1, S, S)
    targets: torch.Tensor         # (B, S, S) float
    is_region: torch.Tensor       # (B,) bool (False: whole-image pair)
    concept: torch.Tensor         # (B,) long
    multimask: torch.Tensor       # (B,) bool
    points: list[list[tuple[float, float]]]
    labels: list[list[int]]
    boxes: torch.Tensor | None    # (B, 4), NaN rows = no box
    region_mask: torch.Tensor     # (B, 1, S, S)
    stroke_map: torch.Tensor      # (B, 2, S, S) painted strokes (positive, negative); zeros = none
    is_stroke: torch.Tensor       # (B,) bool: prompted by strokes (its correction is a stroke too)
    box_alone: torch.Tensor       # (B,) bool: prompted by a box and nothing else (TrainOptions.box_on_box_output)


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _points_tensor(points, labels) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    n = max((len(p) for p in points), default=0)
    if n == 0:
        return None, None
    pts = torch.zeros(len(points), n, 2)
    lab = torch.full((len(points), n), -1, dtype=torch.long)
    for b, (p, l) in enumerate(zip(points, labels)):
        if p:
            pts[b, : len(p)] = torch.tensor(p)
            lab[b, : len(l)] = torch.tensor(l)
    return pts, lab


def trainable_parameters(model: torch.nn.Module, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """The parameters under the module names ``prefixes`` (all when empty); the others are frozen, so a fine-tune
    can teach one input path (for example ``dense_prompt``, where painted strokes enter) and leave the rest as it
    was."""
    if not prefixes:
        return list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    unknown = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
    if unknown:
        raise TrainingOptionError(f"--trainable: no parameters under {unknown}; modules: "
                         f"{sorted({n.split('.')[0] for n in names})}")
    keep = []
    for n, p in model.named_parameters():
        p.requires_grad_(any(n == q or n.startswith(q + ".") for q in prefixes))
        if p.requires_grad:
            keep.append(p)
    return keep


class Trainer:
    def __init__(self, opts: TrainOptions) -> None:
        if opts.distill_weight < 0 or (opts.distill_weight > 0 and not opts.init_from):  # before the data loads
            raise TrainingOptionError("--distill-weight must be 0 or more, and above 0 it needs --init-from (the "
                                      "model whose answers are kept)")
        self.opts = opts
        self.rank, self.world = _distributed()
        torch.set_num_threads(opts.threads or max(1, (os.cpu_count() or 1) // self.world))
        self.device = torch.device(f"cuda:{self.rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu")
        self.out = Path(opts.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.cases: list[Case] = load_training_cases(opts.data, opts.holdout_patients, opts.synth,
                                                     opts.synth_volumes, opts.seed, opts.synth_tumours,
                                                     opts.synth_tumour_contrast)
        self.cfg = get_config(opts.config)
        self.bank = SampleBank(self.cases, self.cfg.image_size, opts.planes, opts.holdout_fraction,
                               opts.max_slices_per_plane, opts.synth_tumour_share)
        for case in self.cases:  # the bank holds what training needs; the volumes would only take memory
            case.canon_image = case.canon_label = None
            case.image = case.label = None
        extra = [c for case in self.cases for c in case.concepts.values()]
        globals_ = [(c.modality, c.spec.body_part) for c in self.cases]
        self.text = build_text_bank(extra, globals_)
        self.concept_index = self.text.index()
        torch.manual_seed(opts.seed)
        self.model = MedPCLIP(self.cfg)
        self.init_dense_strokes = False
        if opts.init_from:
            init = checkpoint_provenance(opts.init_from)
            self.init_dense_strokes = bool(init.get("dense_strokes") or init.get("options", {}).get("stroke_share"))
            # parts newer than the checkpoint that start silent (zero output) are expected, not worth a warning
            fresh = [k for k in load_matching_weights(self.model, opts.init_from) if not k.startswith(OPTIONAL_PREFIXES)]
            if fresh:
                log.warning("--init-from %s: %d tensors not in that checkpoint keep their initialisation: %s",
                            opts.init_from, len(fresh), ", ".join(fresh[:6]) + (" ..." if len(fresh) > 6 else ""))
        self.model.to(self.device).train()
        self.distiller = Distiller(self.cfg, opts.init_from, self.device) if opts.distill_weight > 0 else None
        params = trainable_parameters(self.model, opts.trainable)
        self.optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.average = WeightAverage(self.model, opts.ema_decay) if opts.ema_decay > 0 else None
        if opts.resume:
            self._load_state()

    # -- data ---------------------------------------------------------------------------------
    def _sample(self, rng: random.Random, aug: SliceAugmenter, out: dict) -> None:
        s = self.cfg.image_size
        while True:
            bslice, value = self.bank.sample_pair(rng)
            case = self.cases[bslice.case_index]
            local = rng.random() < self.opts.local_view_share
            if local:
                view_img, view_lab = self.bank.local_view(bslice, value, rng)
            else:
                view_img, view_lab = self.bank.random_view(bslice, value, rng)
            if not local and rng.random() < self.opts.global_share:
                img, _ = aug(view_img, view_lab, value, rng, case.modality)
                out["images"].append(img)
                out["targets"].append(torch.zeros(s, s))
                out["is_region"].append(False)
                out["concept"].append(self.concept_index[global_concept(case.modality, case.spec.body_part).id])
                out["multimask"].append(False)
                out["points"].append([]), out["labels"].append([])
                out["boxes"].append([math.nan] * 4)
                out["region_mask"].append(torch.ones(s, s))
                out["stroke_map"].append(torch.zeros(2, s, s)), out["is_stroke"].append(False)
                out["box_alone"].append(False)
                return
            img, lab = aug(view_img, view_lab, value, rng, case.modality)
            mask = (lab == value).numpy()
            if mask.sum() < MIN_MODEL_PIXELS:
                continue
            strokes = None
            if local:  # one click at the visible structure's pixel nearest the view's centre
                prompt = SampledPrompt("point", [nearest_inside(mask, (s - 1) / 2, (s - 1) / 2)], [1])
            elif rng.random() < self.opts.stroke_share:
                strokes, first = sample_strokes(mask, lab.numpy(), rng, self.opts.annotator_stroke_share)
                prompt = SampledPrompt("point", [first], [1])
            else:
                prompt = sample_prompt(mask, lab.numpy(), rng)
            out["stroke_map"].append(torch.zeros(2, s, s) if strokes is None else torch.from_numpy(strokes).float())
            out["is_stroke"].append(strokes is not None)
            out["box_alone"].append(strokes is None and prompt.kind == "box")
            out["images"].append(img)
            out["targets"].append(torch.from_numpy(mask).float())
            out["is_region"].append(True)
            out["concept"].append(self.concept_index[case.concepts[value].id])
            out["multimask"].append(prompt.kind == "point")
            out["points"].append(list(prompt.points)), out["labels"].append(list(prompt.labels))
            out["boxes"].append(list(prompt.box) if prompt.box else [math.nan] * 4)
            out["region_mask"].append(torch.from_numpy(prompt.region_mask).float() if prompt.region_mask is not None
                                      else torch.zeros(s, s))
            return

    def make_batch(self, step: int) -> Batch:
        seed = (self.opts.seed * 1_000_003 + step) * 97 + self.rank
        rng = random.Random(seed)
        aug = SliceAugmenter(seed % (2 ** 31), zoom_prob=0.0, flip_rows=self.opts.flip_rows,  # views set the scale
                             wide_ct_looks=self.opts.wide_ct_looks)
        cols: dict[str, list] = {k: [] for k in ("images", "targets", "is_region", "concept", "multimask", "points",
                                                  "labels", "boxes", "region_mask", "stroke_map", "is_stroke",
                                                  "box_alone")}
        for _ in range(self.opts.batch_size):
            self._sample(rng, aug, cols)
        boxes = torch.tensor(cols["boxes"], dtype=torch.float32)
        return Batch(torch.stack(cols["images"])[:, None], torch.stack(cols["targets"]), torch.tensor(cols["is_region"]),
                     torch.tensor(cols["concept"]), torch.tensor(cols["multimask"]), cols["points"], cols["labels"],
                     boxes if torch.isfinite(boxes).any() else None, torch.stack(cols["region_mask"])[:, None],
                     torch.stack(cols["stroke_map"]), torch.tensor(cols["is_stroke"]), torch.tensor(cols["box_alone"]))

    # -- one step -----------------------------------------------------------------------------
    def _prompts(self, points, labels, boxes, region_mask, stroke_map, prev=None) -> Prompts:
        pts, lab = _points_tensor(points, labels)
        dev = self.device
        return Prompts(pts.to(dev) if pts is not None else None, lab.to(dev) if lab is not None else None,
                       boxes.to(dev) if boxes is not None else None, region_mask.to(dev),
                       prev.to(dev) if prev is not None else None, stroke_map.to(dev))

    def train_step(self, batch: Batch, rng: random.Random) -> dict[str, float]:
        model = self.model
        dev = self.device
        images, targets = batch.images.to(dev), batch.targets.to(dev)
        region_w = batch.is_region.to(dev).float()
        text = model.project_text(self.text.sample(rng).to(dev))
        s = self.cfg.image_size
        feats = model.encode_slices(images)  # trunk once; both prompt iterations reuse it
        run = lambda prompts: model.prompted(feats, prompts)  # noqa: E731
        p1 = self._prompts(batch.points, batch.labels, batch.boxes, batch.region_mask, batch.stroke_map)
        out1 = run(p1)
        loss_clip = region_text_loss(out1.region_embedding, text, batch.concept.to(dev), model.logit_scale)
        up1 = F.interpolate(out1.masks, size=(s, s), mode="bilinear", align_corners=False)
        # a box alone trains output 0 (single mask), or with box_on_box_output the output the engine answers it with
        box_out = int(model.box_output) if self.opts.box_on_box_output else 0
        single = batch.box_alone.to(dev).long() * box_out
        m1, chosen = mask_loss(up1, out1.iou, targets, batch.multimask.to(dev),
                               rank_weight=self.opts.iou_rank_weight, single_output=single)
        # simulated correction clicks on the chosen mask, previous low-res logits fed back: with
        # correction_rounds R > 1, a random 1..R of them, all but the last without gradients (SAM / RITM's
        # iterative training: later corrections see the inputs they get in use)
        with torch.no_grad():
            pred = (up1.gather(1, chosen[:, None, None, None].expand(-1, 1, s, s))[:, 0] > 0).cpu().numpy()
            prev = out1.masks.gather(1, chosen[:, None, None, None].expand(-1, 1, *out1.masks.shape[-2:])).detach()
        rounds = rng.randint(1, self.opts.correction_rounds) if self.opts.correction_rounds > 1 else 1
        points2, labels2, strokes2 = batch.points, batch.labels, batch.stroke_map
        for r in range(rounds):
            points2, labels2, strokes2 = with_corrections(batch, points2, labels2, strokes2, pred, rng)
            prompts2 = self._prompts(points2, labels2, batch.boxes, batch.region_mask, strokes2, prev)
            if r == rounds - 1:
                out2 = run(prompts2)
                break
            with torch.no_grad():
                out_r = run(prompts2)
                prev = out_r.masks[:, :1].detach()
                pred = (F.interpolate(prev, size=(s, s), mode="bilinear", align_corners=False)[:, 0] > 0).cpu().numpy()
        up2 = F.interpolate(out2.masks, size=(s, s), mode="bilinear", align_corners=False)
        m2, _ = mask_loss(up2, out2.iou, targets, torch.zeros_like(batch.multimask).to(dev))
        # global (whole-image) samples carry no mask target: weight them out of the mask losses
        frac = region_w.mean().clamp(min=1e-6)
        loss = self.opts.clip_weight * loss_clip + (m1 + m2) * frac
        stats = {}
        if self.distiller is not None:
            kd = self.distiller.loss(images, p1, out1.masks, region_w)
            loss = loss + self.opts.distill_weight * kd
            stats["distill"] = kd.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            self._all_reduce_gradients()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.optimizer.step()
        return {"loss": loss.item(), "clip": loss_clip.item(), "mask1": m1.item(), "mask2": m2.item(), **stats}

    def _all_reduce_gradients(self) -> None:
        """Data parallelism: average gradients over ranks in one flat all-reduce (what DDP does, without its
        one-forward-per-backward rule, which the two prompt iterations per step would break)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))
            offset += n

    def lr_at(self, step: int) -> float:
        o = self.opts
        if step < o.warmup:
            return o.lr * (step + 1) / o.warmup
        t = (step - o.warmup) / max(1, o.max_steps - o.warmup)
        return o.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))

    # -- loop ---------------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        o = self.opts
        start_time = time.time()
        bar = tqdm(total=o.max_steps, initial=self.step, disable=not progress or self.rank != 0, desc="train",
                   unit="step", dynamic_ncols=True)
        stopped_early = False
        while self.step < o.max_steps:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(self.step)
            batch = self.make_batch(self.step)
            stats = self.train_step(batch, random.Random(o.seed * 31 + self.step))
            if self.average is not None:
                self.average.update(self.model)
            stats["step"] = self.step
            self.history.append(stats)
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", clip=f"{stats['clip']:.3f}", mask=f"{stats['mask2']:.3f}")
            if self.step % o.save_every == 0:
                self.save()
            if o.max_minutes and (time.time() - start_time) / 60 > o.max_minutes:
                stopped_early = True
                log.warning("stopping at step %d: --max-minutes %.1f reached", self.step, o.max_minutes)
                break
        bar.close()
        wall = time.time() - start_time
        summary = self.save(wall_seconds=wall, final=True, stopped_early=stopped_early)
        if self.world > 1:
            dist.barrier()
        return summary

    def _checkpoint(self, wall_seconds: float | None, model: torch.nn.Module | None = None) -> Checkpoint:
        provenance = {
            "trained": True, "steps": self.step, "options": {**asdict(self.opts), "planes": list(self.opts.planes)},
            "cases": [{"name": c.spec.name, "patient": getattr(c.spec, "patient", c.spec.name), "modality": c.modality,
                       "labels": {str(k): v.id for k, v in c.concepts.items()}} for c in self.cases],
            "holdout_patients": list(self.opts.holdout_patients),
            "holdout": {"fraction": self.opts.holdout_fraction, "rule": "medpclip.data.holdout"},
            "bank": self.bank.summary(), "world_size": self.world, "torch": torch.__version__,
            "wall_seconds": wall_seconds, "command": self.opts.command,
            # once trained with painted strokes, a model keeps reading them (a fine-tune from it inherits this)
            "dense_strokes": self.opts.stroke_share > 0 or self.init_dense_strokes,
        }
        return Checkpoint(self.model if model is None else model, self.text.concepts, self.text.ensemble(), provenance)

    def save(self, wall_seconds: float | None = None, final: bool = False, stopped_early: bool = False) -> dict:
        if self.rank != 0:
            return {}
        from safetensors.torch import save_file

        save_checkpoint(self._checkpoint(wall_seconds), self.out / CHECKPOINT_NAME)
        opt_tensors = {}
        if self.average is not None:
            save_checkpoint(self._checkpoint(wall_seconds, self.average.averaged(self.model)), self.out / AVERAGE_NAME)
            opt_tensors.update(self.average.state())
        names = {id(p): n for n, p in self.model.named_parameters()}
        for p, st in self.optimizer.state.items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    opt_tensors[f"{names[id(p)]}::{k}"] = v.detach().cpu().contiguous()
        atomic_write(self.out / STATE_NAME, lambda tmp: save_file(
            opt_tensors, tmp, metadata={"step": str(self.step), "history": json.dumps(self.history)}))
        losses = [h["loss"] for h in self.history]
        head = losses[: min(20, len(losses))]
        tail = losses[-min(20, len(losses)):]
        summary = {
            "checkpoint": str(self.out / CHECKPOINT_NAME), "steps": self.step, "batch_size": self.opts.batch_size,
            "world_size": self.world, "loss_start": float(np.mean(head)) if head else None,
            "loss_end": float(np.mean(tail)) if tail else None, "wall_seconds": wall_seconds,
            "stopped_early": stopped_early, "bank": self.bank.summary(),
        }
        (self.out / "metrics.json").write_text(json.dumps({**summary, "history": self.history}, indent=1))
        if final:
            plot_loss_curve(self.history, self.out / "loss_curve.png")
        return summary

    def _load_state(self) -> None:
        from safetensors import safe_open

        ckpt_path, state_path = self.out / CHECKPOINT_NAME, self.out / STATE_NAME
        if not ckpt_path.is_file() or not state_path.is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT_NAME} / {STATE_NAME} in {self.out}")
        self.model.load_state_dict(load_checkpoint(ckpt_path).model.state_dict())
        if self.average is not None:  # a state file without an average starts it at the resumed weights
            self.average = WeightAverage(self.model, self.opts.ema_decay)
        params = dict(self.model.named_parameters())
        with safe_open(str(state_path), framework="pt") as f:
            meta = f.metadata()
            if self.average is not None:
                self.average.load_state(f)
            for key in (k for k in f.keys() if not k.startswith(STATE_PREFIX)):
                name, field_ = key.split("::")
                self.optimizer.state[params[name]][field_] = f.get_tensor(key).to(self.device)
        self.step = int(meta["step"])
        self.history = json.loads(meta["history"])
        log.info("resumed from step %d", self.step)


def train(opts: TrainOptions, progress: bool = True) -> dict:
    return Trainer(opts).fit(progress=progress)
