"""MedP-CLIP's latency (trunk per slice, click, 3D propagation) and the speed peer: the compute of a SAM ViT-B
(1024 x 1024) encoder + decoder on the same slices, as FLOPs and optionally wall time, as a ratio to ours."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..data.cases import Case
from .items import Item3D
from .runners import MedPCLIPRunner, canon_to_input_point
from .summaries import pct

if TYPE_CHECKING:
    import torch

    from ..engine.session import Engine


def cold_latency(engine: Engine, case: Case, slab: list[int], items3d: list[Item3D],
                 structures: int = 3) -> dict[str, list[float]]:
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
        ijk = lambda x, y, kk: canon_to_input_point(s, x, y, kk)  # noqa: E731
        res = s.segment({"space": "ijk", "mode": "3d", "slice": s.input_slice_index("axial", k),
                         "box": ijk(cols.min(), rows.min(), ks.min()) + ijk(cols.max(), rows.max(), ks.max())})
        s.close()
        if "propagate_ms" in res.latency_ms and len(res.slices) > 1:  # a run that stopped at once measures nothing
            out["propagate_slices"].append(len(res.slices) - 1)
            out["propagate_s"].append(res.latency_ms["propagate_ms"] / 1000)
    return out


def latency_summary(ours: MedPCLIPRunner | None, cold: dict[str, list[float]]) -> dict[str, Any]:
    """results["latency"]: ``cold_latency``'s measurements and the runner's cached clicks / 3D trials."""
    if ours is None:
        return {"trunk_ms_median": None, "click_ms_median": None, "click_ms_p95": None, "propagate_slices_per_s": None}
    cached = [lat for lat in ours.latencies if lat.get("trunk_cached", 0.0) == 1.0]
    prop_n, prop_s = sum(cold["propagate_slices"]), sum(cold["propagate_s"])
    p3 = [lat for lat in ours.latencies3d if "propagate_ms" in lat and lat.get("propagate_slices_per_s", 0) > 0]
    return {
        "trunk_ms_median": pct(cold["trunk_ms"], 50), "trunk_ms_p95": pct(cold["trunk_ms"], 95),
        "click_ms_median": pct([x["total_ms"] for x in cached], 50),
        "click_ms_p95": pct([x["total_ms"] for x in cached], 95),
        "click_model_ms_median": pct([x["prompt_ms"] for x in cached], 50),
        "click_model_ms_p95": pct([x["prompt_ms"] for x in cached], 95),
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


def _sync(dev: torch.device) -> None:
    if getattr(dev, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(dev)


def _flops(fn: Callable[[], Any]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def sam_speed_peer(engine: Engine, slices: list[np.ndarray], trunk_ms: float | None, prompt_ms: float | None,
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

    _, orig, inp = sam_input(slices[0])

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
