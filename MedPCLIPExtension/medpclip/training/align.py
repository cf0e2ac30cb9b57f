"""Region-text alignment of the recognition heads on a frozen model ("stage 3").

Contrastive pre-training from scratch on a handful of volumes learns masks much faster than it aligns
region and text embeddings. This stage freezes the trunk, the prompted blocks and the decoder, computes
for every training (slice, structure) pair and several prompt variants (mask, jittered masks, box, clicks)
the frozen class-token embedding and the pooled region feature once, and then trains only the parts that
map them into the shared space: ``region_pool_proj``, ``text_projection`` and ``logit_scale``, with the same
region-text loss as the main training. Held-out slices are excluded exactly as in training.

Two additions aim at naming on patients the model never saw (issue 13): a hard-negative term, the same
cross-entropy restricted to the names of the region's own case (its neighbours: what ``identify`` ranks when given
a case's labels, and where the confusions are), and structure-level samples, the mean of one structure's mask
embeddings over several slices of a case (what ``identify`` computes from a 3D mask). With ``geometry`` (the
default) the region geometry head is trained too: where the region lies in the body and how bright it is against it
(``model/region_geometry.py``), computed from the sample's mask on the same context view, added to the embedding of
every sample with a mask (not to the whole-slice caption, which has none).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..data.holdout import DEFAULT_FRACTION
from ..data.region_prompts import sample_prompt
from ..model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..model.medpclip import Prompts
from ..model.region_geometry import N_FEATURES, RegionGeometryHead, jitter_region_size, region_geometry
from .augment import build_intensity, domain_randomise
from .losses import region_text_loss
from .data_sources import load_training_cases
from .sample_bank import SampleBank
from .text_bank import build_text_bank, global_concept

log = logging.getLogger(__name__)
VARIANTS = ("mask", "mask", "box", "point", "points")


@dataclass
class AlignOptions:
    data: str
    init_from: str
    out: str
    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    holdout_fraction: float = DEFAULT_FRACTION
    threads: int | None = None
    command: str = ""
    holdout_patients: tuple[str, ...] = ()
    synth: str | None = None
    synth_volumes: int = 1
    max_slices_per_plane: int | None = None
    case_negatives: float = 1.0      # weight of the within-case (hard-negative) term; 0 = off
    pooled_per_structure: int = 2    # structure-level samples per (case, structure) with several slices; 0 = off
    geometry: bool = True            # train the region geometry head (issue 13)
    augmented_copies: int = 0        # domain-randomised renderings of each slice besides its context view
    geometry_features: int | None = None  # start a fresh geometry head reading this many figures; None: keep it
    synth_tumours: int = 0           # synthetic images per label map of ``synth`` with a brain tumour drawn in
    synth_tumour_contrast: str = "random"  # "random" or "sequence" (FLAIR- / T1c-like sub-regions)
    size_jitter: float = 1.0         # geometry head sees each region's area scaled by up to this factor (1 = off)


def _renderings(bank: SampleBank, bslice, modality: str, copies: int, intensity, rng: random.Random):
    """The slice's context view (what the engine names regions in), then ``copies`` domain-randomised renderings
    of it: zoomed out or in (0.8-1.4x) and shifted, another CT window / MR contrast and bias field, low resolution,
    blur, 8-bit quantisation, gamma, intensity scale / shift and noise (``training/augment.py``)."""
    yield bank.context_view(bslice)
    for _ in range(copies):
        image, label = bank.jittered_context_view(bslice, rng, zoom=(0.8, 1.4))
        image = domain_randomise(image, modality, rng)
        image = torch.as_tensor(np.asarray(intensity({"image": image[None].numpy()})["image"]), dtype=torch.float32)
        yield image[0].clamp(0, 1.2), label


def _features(ckpt: Checkpoint, bank: SampleBank, cases, concept_index, rng: random.Random, copies: int = 0):
    """Frozen (class-token head, pooled feature, region geometry, concept, case, is-mask-prompt) for every pair and
    prompt variant, in the slice's context view and ``copies`` randomised renderings of it; the geometry comes from
    the prompt's mask when it has one, else from the model's own answer to the box or click (what the engine names
    such a prompt by), zeros for the whole-slice caption."""
    model = ckpt.model.eval()
    intensity = build_intensity(rng.randrange(2 ** 31)) if copies else None
    heads, pooled, geoms, targets, case_ids, is_mask = [], [], [], [], [], []
    views = ((bslice, view) for bslice in bank.slices
             for view in _renderings(bank, bslice, cases[bslice.case_index].modality, copies, intensity, rng))
    for bslice, (image, label_view) in views:
        case = cases[bslice.case_index]
        label = label_view.numpy()
        with torch.no_grad():
            feats = model.encode_slices(image[None, None])
        values = [v for v in np.unique(label) if v > 0 and (label == v).sum() >= 16]
        prompts, concepts, kinds, masks = [], [], [], []
        for v in values:
            mask = label == v
            for kind in VARIANTS:
                prompts.append(sample_prompt(mask, label, rng, kind=kind))
                concepts.append(concept_index[case.concepts[int(v)].id])
                kinds.append(kind)
                masks.append(mask)
        prompts.append(None)  # the whole slice: global caption
        concepts.append(concept_index[global_concept(case.modality, case.spec.body_part).id])
        kinds.append("global")
        masks.append(None)
        is_ct, ring, shape = case.modality.upper() == "CT", model.reads_ring, model.reads_shape
        for p, c, kind, mask in zip(prompts, concepts, kinds, masks):
            s = image.shape[-1]
            if p is None:
                pr = Prompts(region_mask=torch.ones(1, 1, s, s))
            else:
                pts = torch.tensor([p.points], dtype=torch.float32) if p.points else None
                lab = torch.tensor([p.labels]) if p.points else None
                box = torch.tensor([p.box], dtype=torch.float32) if p.box else None
                rm = torch.from_numpy(p.region_mask).float()[None, None] if p.region_mask is not None else None
                pr = Prompts(pts, lab, box, rm)
            with torch.no_grad():
                x, pool, sparse = model.prompted_tokens(feats, pr)
                heads.append(model.visual.head(x)[0])
                if mask is None:
                    geoms.append(torch.zeros(N_FEATURES))
                elif p.region_mask is not None:
                    geoms.append(region_geometry(image, torch.from_numpy(p.region_mask), is_ct, ring=ring,
                                                 shape=shape))
                else:
                    geoms.append(region_geometry(image, _answer(model, feats, x, sparse, pr, s), is_ct, ring=ring,
                                                    shape=shape))
            pooled.append(pool[0])
            targets.append(c)
            case_ids.append(bslice.case_index)
            is_mask.append(kind == "mask")
    return (torch.stack(heads), torch.stack(pooled), torch.stack(geoms), torch.tensor(targets),
            torch.tensor(case_ids), is_mask)


def _answer(model, feats, x: torch.Tensor, sparse: torch.Tensor, prompts: Prompts, size: int) -> torch.Tensor:
    """(S, S) bool: the model's answer to a box / click prompt (decoded from the prompted tokens already computed),
    picked as the engine picks it (``MedPCLIP.answer_index``)."""
    masks, iou, _ = model.decode_masks(feats, x, sparse, prompts)
    single_click = prompts.points is not None and prompts.points.shape[1] == 1 and prompts.boxes is None
    box_alone = prompts.points is None and prompts.boxes is not None
    k = model.answer_index(iou[0], single_click, box_alone=box_alone)
    low = masks[:, k:k + 1].float()
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)[0, 0] > 0


def _structure_samples(heads: torch.Tensor, pooled: torch.Tensor, geoms: torch.Tensor, targets: torch.Tensor, case_ids: torch.Tensor,
                       is_mask: list[bool], per_structure: int, rng: random.Random):
    """Means of 2-3 mask-prompt samples of one structure of one case (different slices or mask jitters)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (t, c, m) in enumerate(zip(targets.tolist(), case_ids.tolist(), is_mask)):
        if m:
            groups.setdefault((c, t), []).append(i)
    new_h, new_p, new_g, new_t, new_c = [], [], [], [], []
    for (c, t), members in groups.items():
        if len(members) < 2:
            continue
        for _ in range(per_structure):
            pick = rng.sample(members, min(len(members), rng.choice((2, 3))))
            new_h.append(heads[pick].mean(0))
            new_p.append(pooled[pick].mean(0))
            new_g.append(geoms[pick].mean(0))
            new_t.append(t)
            new_c.append(c)
    if not new_t:
        return heads, pooled, geoms, targets, case_ids
    return (torch.cat([heads, torch.stack(new_h)]), torch.cat([pooled, torch.stack(new_p)]),
            torch.cat([geoms, torch.stack(new_g)]), torch.cat([targets, torch.tensor(new_t)]), torch.cat([case_ids, torch.tensor(new_c)]))


def case_name_mask(targets: torch.Tensor, case_ids: torch.Tensor, n_concepts: int) -> torch.Tensor:
    """(n_cases, n_concepts) bool: the concepts each case's regions are named with."""
    out = torch.zeros(int(case_ids.max()) + 1, n_concepts, dtype=torch.bool)
    out[case_ids, targets] = True
    return out


def within_case_loss(region: torch.Tensor, text: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each region against its own case's names only (``allowed`` (B, C) bool); rows with a
    single allowed name (the global caption) carry no signal and are left out."""
    keep = allowed.sum(1) > 1
    if not keep.any():
        return region.sum() * 0
    logits = logit_scale.exp().clamp(max=100) * region[keep] @ text.t()
    logits = logits.masked_fill(~allowed[keep], float("-inf"))
    return F.cross_entropy(logits, targets[keep])


def align(opts: AlignOptions, progress: bool = True) -> dict:
    from tqdm import tqdm

    torch.set_num_threads(opts.threads or 2)
    t0 = time.time()
    ckpt = load_checkpoint(opts.init_from)
    cases = load_training_cases(opts.data, opts.holdout_patients, opts.synth, opts.synth_volumes, opts.seed,
                                opts.synth_tumours, opts.synth_tumour_contrast)
    bank = SampleBank(cases, ckpt.model.cfg.image_size, ("axial",), opts.holdout_fraction, opts.max_slices_per_plane)
    extra = [c for case in cases for c in case.concepts.values()]
    text = build_text_bank(extra, [(c.modality, c.spec.body_part) for c in cases])
    rng = random.Random(opts.seed)
    torch.manual_seed(opts.seed)
    model = ckpt.model
    if opts.geometry_features is not None:
        model.cfg = dataclasses.replace(model.cfg, geometry_features=opts.geometry_features)
        model.region_geometry_head = RegionGeometryHead(model.cfg.embed_dim, n_features=opts.geometry_features)
    heads, pooled, geoms, targets, case_ids, is_mask = _features(ckpt, bank, cases, text.index(), rng,
                                                                  opts.augmented_copies)
    if opts.pooled_per_structure:
        heads, pooled, geoms, targets, case_ids = _structure_samples(heads, pooled, geoms, targets, case_ids,
                                                                     is_mask, opts.pooled_per_structure, rng)
    has_geometry = geoms.abs().sum(1, keepdim=True) > 0
    names_of_case = case_name_mask(targets, case_ids, len(text.concepts))
    trained = ["region_pool_proj", "text_projection", "logit_scale"] + (["region_geometry_head"] if opts.geometry else [])
    params = [*model.region_pool_proj.parameters(), *model.text_projection.parameters(), model.logit_scale]
    if opts.geometry:
        params += list(model.region_geometry_head.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.01)
    history = []
    n = len(targets)
    jitter_rng = torch.Generator().manual_seed(opts.seed)  # own stream: the batches are those of an unjittered run
    bar = tqdm(range(opts.steps), desc="align", disable=not progress)
    for step in bar:
        idx = torch.randint(0, n, (min(opts.batch_size, n),))
        region = F.normalize(heads[idx] + model.region_pool_proj(pooled[idx]), dim=-1)
        if opts.geometry:
            geometry = jitter_region_size(geoms[idx], opts.size_jitter, jitter_rng)
            region = torch.where(has_geometry[idx], model.with_geometry(region, geometry), region)
        txt = model.project_text(text.sample(rng))
        loss = region_text_loss(region, txt, targets[idx], model.logit_scale)
        if opts.case_negatives:
            loss = loss + opts.case_negatives * within_case_loss(region, txt, targets[idx],
                                                                 names_of_case[case_ids[idx]], model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for g in opt.param_groups:
            g["lr"] = opts.lr * 0.5 * (1 + np.cos(np.pi * (step + 1) / opts.steps))
        history.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.requires_grad_(True)
    prov = dict(ckpt.provenance)
    if "align" in prov:  # re-aligning an aligned checkpoint: keep the record of the earlier alignment(s)
        prov["earlier_aligns"] = [*prov.get("earlier_aligns", []), prov["align"]]
    prov["align"] = {"from": str(opts.init_from), "steps": opts.steps, "batch_size": opts.batch_size, "lr": opts.lr,
                     "pairs": int(n), "seed": opts.seed, "command": opts.command,
                     "case_negatives": opts.case_negatives, "pooled_per_structure": opts.pooled_per_structure,
                     "augmented_copies": opts.augmented_copies, "synth": opts.synth,
                     "synth_volumes": opts.synth_volumes if opts.synth else 0, "synth_tumours": opts.synth_tumours,
                     "synth_tumour_contrast": opts.synth_tumour_contrast, "size_jitter": opts.size_jitter,
                     "geometry_features": model.cfg.geometry_features,
                     "trained": trained,
                     "wall_seconds": round(time.time() - t0, 1)}
    out = save_checkpoint(Checkpoint(model, text.concepts, text.ensemble(), prov, ckpt.metrics),
                          f"{opts.out.rstrip('/')}/medpclip.safetensors")
    k = max(1, len(history) // 10)
    return {"checkpoint": str(out), "pairs": int(n), "steps": opts.steps, "loss_start": float(np.mean(history[:k])),
            "loss_end": float(np.mean(history[-k:])), "wall_seconds": round(time.time() - t0, 1)}
