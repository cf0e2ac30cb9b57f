"""The methods under test and the protocol runs that drive them.

A ``MethodRunner`` is one method over one opened case: a 2D ``Predictor`` per canonical axial slice and a 3D
box(+clicks) call. MedP-CLIP goes through the engine's public prompt contract (input ijk, like a user's clicks);
its peers are the classical baselines of ``baselines.py``. ``item_trials`` is the 2D protocol (recognition, then
``protocol.simulate`` per first prompt) that every harness shares; ``run_items_2d`` / ``run_3d`` turn it and the 3D
protocol into the benchmark's trial records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..data.cases import Case
from ..data.geometry import extract_slice, insert_slice
from ..data.masks import dice, iou, max_edt_point, noc, tight_box
from .baselines import growcut_2d, growcut_3d, region_grow_2d, region_grow_3d
from .items import Item2D, Item3D, input_slice
from .metrics import correction_click_3d, surface_dice
from .protocol import NOC_CAP, Box, Click, Predictor, Simulation, simulate

if TYPE_CHECKING:
    from ..engine.session import Engine, Session
    from .benchmark import BenchmarkOptions

METHODS = ("medpclip", "growcut", "regiongrow")
RECOGNITION_PROMPTS = ("mask", "box", "point")


# -- MedP-CLIP through the engine -------------------------------------------------------------------------------
def canon_to_input_point(session: Session, x: float, y: float, idx: int) -> list[float]:
    """Canonical axial slice pixel -> input ijk (so prompts go through the public contract)."""
    ijk = session.orient.index_matrix() @ np.array([x, y, idx, 1.0])
    return ijk[:3].tolist()


def engine_predictor(session: Session, idx: int, latencies: list[dict] | None = None,
                     alternative: int = 0) -> Predictor:
    """A ``Predictor`` for canonical axial slice ``idx`` through ``session.segment`` (the public prompt contract,
    input ijk, previous logits fed back by the engine). Forgets any earlier object on that slice first.
    ``alternative``: a first click's other answer (the prompt key; one click alone only)."""
    session.forget_feedback("axial", idx)  # a new object on this slice: no stale feedback

    def predict(points: list[Click], box: Box | None) -> np.ndarray:
        prompt: dict[str, Any] = {"space": "ijk", "points": [canon_to_input_point(session, c, r, idx) for r, c, _ in points],
                                  "point_labels": [lab for _, _, lab in points], "mode": "2d",
                                  "slice": session.input_slice_index("axial", idx)}
        if box is not None:
            x0, y0, x1, y1 = box
            prompt["box"] = canon_to_input_point(session, x0, y0, idx) + canon_to_input_point(session, x1, y1, idx)
        if alternative:
            prompt["alternative"] = alternative
        res = session.segment(prompt)
        if latencies is not None:
            latencies.append(res.latency_ms)
        canon = session.orient.array_to_canonical(res.mask)
        return extract_slice(canon, "axial", idx) > 0

    return predict


# -- runners --------------------------------------------------------------------------------------------------
class MethodRunner:
    """One method over one case at a time: a 2D predictor per slice and a 3D box(+clicks) call."""

    name = ""
    recognises = False

    def __init__(self) -> None:
        self.ms: list[float] = []          # wall time of every interaction (2D), ms

    def open(self, case: Case, encode: Sequence[int] = ()) -> None:
        """Start on ``case``; ``encode``: canonical axial slices the method may prepare before it is timed."""
        raise NotImplementedError

    def predictor2d(self, idx: int) -> Predictor:
        raise NotImplementedError

    def run3d(self, box: tuple, mid: int, points: list[tuple[int, int, int, int]]) -> np.ndarray:
        """-> canonical bool volume."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _timed(self, fn: Callable[..., np.ndarray]) -> Predictor:
        def predict(points: list[Click], box: Box | None) -> np.ndarray:
            t = time.perf_counter()
            out = fn(points, box)
            self.ms.append((time.perf_counter() - t) * 1000)
            return out
        return predict


class MedPCLIPRunner(MethodRunner):
    name = "medpclip"
    recognises = True

    def __init__(self, engine: Engine, views: str | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.views = views                  # engine view mode (None: the engine's default)
        self.session: Session | None = None
        self.latencies: list[dict] = []     # engine latency dicts of the 2D interactions
        self.latencies3d: list[dict] = []

    def open(self, case: Case, encode: Sequence[int] = ()) -> None:
        self.session = self.engine.open(case.image, views=self.views)
        if encode:  # warm the held-out slab (+-2) so background prefetch never competes with a timed click
            n = self.session.n_slices("axial")
            self.session.features("axial", sorted({min(n - 1, max(0, i + d)) for i in encode for d in range(-2, 3)}))

    def predictor2d(self, idx: int) -> Predictor:
        return self._timed(engine_predictor(self.session, idx, self.latencies))

    def first_click_answers(self, idx: int, click: Click, target: np.ndarray, first_dice: float) -> list[float]:
        """Dice of each of the model's answers to one first click (the prompt's ``alternative`` 0, 1, ...): what a
        user who steps through them and keeps the best gets. Answer 0 is the simulation's own first click
        (``first_dice``, not asked again)."""
        return [first_dice] + [round(dice(engine_predictor(self.session, idx, alternative=a)([click], None), target), 4)
                               for a in range(1, self.engine.answers_per_click)]

    def input_point(self, x: float, y: float, k: int) -> list[float]:
        """Canonical (x, y, axial slice k) -> input ijk of the opened case."""
        return canon_to_input_point(self.session, x, y, k)

    def run3d(self, box: tuple, mid: int, points: list[tuple[int, int, int, int]]) -> np.ndarray:
        s = self.session
        x0, y0, k0, x1, y1, k1 = box
        prompt = {"space": "ijk", "box": self.input_point(x0, y0, k0) + self.input_point(x1, y1, k1), "mode": "3d",
                  "slice": s.input_slice_index("axial", mid),
                  "points": [self.input_point(c, r, k) for k, r, c, _ in points],
                  "point_labels": [lab for *_, lab in points]}
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

    def open(self, case: Case, encode: Sequence[int] = ()) -> None:
        self.image = np.ascontiguousarray(case.canon_image, dtype=np.float32)
        self.spacing = tuple(float(s) for s in case.canon_spacing[::-1])   # (k, row, col) mm


class GrowCutRunner(_ClassicalRunner):
    name = "growcut"

    def predictor2d(self, idx: int) -> Predictor:
        img = self.image[idx]
        return self._timed(lambda points, box: growcut_2d(img, points, box))

    def run3d(self, box: tuple, mid: int, points: list[tuple[int, int, int, int]]) -> np.ndarray:
        return growcut_3d(self.image, box, mid, points)


class RegionGrowRunner(_ClassicalRunner):
    name = "regiongrow"

    def predictor2d(self, idx: int) -> Predictor:
        img = self.image[idx]
        return self._timed(lambda points, box: region_grow_2d(img, points, box))

    def run3d(self, box: tuple, mid: int, points: list[tuple[int, int, int, int]]) -> np.ndarray:
        return region_grow_3d(self.image, box, mid, points, self.spacing)


def make_runners(methods: Sequence[str], engine: Engine | None, views: str | None = None) -> list[MethodRunner]:
    runners: list[MethodRunner] = []
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


def medpclip_runner(runners: Sequence[MethodRunner]) -> MedPCLIPRunner | None:
    return next((r for r in runners if isinstance(r, MedPCLIPRunner)), None)


def warm_up_classical(runners: Sequence[MethodRunner]) -> None:
    """Load ITK's GrowCut module (seconds, once) before anything is timed."""
    if any(isinstance(r, GrowCutRunner) for r in runners):
        img = np.zeros((8, 8), np.float32)
        img[3:5, 3:5] = 1
        growcut_2d(img, [(4, 4, 1)])


# -- the 2D protocol --------------------------------------------------------------------------------------------
def mask_region(runner: MedPCLIPRunner, case: Case, item: Item2D):
    """The region embedding of an item's reference mask (its slice only), as ``identify`` computes it."""
    vol = np.zeros(case.canon_label.shape, bool)
    insert_slice(vol, "axial", item.idx, extract_slice(case.canon_label, "axial", item.idx) == item.value)
    return runner.session.region_embedding(mask=runner.session.to_input(vol))


def recognition(runner: MedPCLIPRunner, case: Case, item: Item2D, names: list[str],
                dataset_names: list[str] | None = None,
                prompts: Sequence[str] = RECOGNITION_PROMPTS, mask_embedding: Any = None) -> dict[str, bool]:
    """Top-1 / Top-5 among the case's own label names (``top1``, ``top5``; suffix ``_box`` / ``_point`` for those
    prompts), among every label name of the run's cases (``top1_dataset``...) and Top-1 over the whole built-in
    vocabulary (mask prompt). A case with a single label is trivially right among its own names.
    ``mask_embedding``: the item's ``mask_region``, when computed already."""
    s, eng = runner.session, runner.engine
    target = extract_slice(case.canon_label, "axial", item.idx) == item.value
    sl = s.input_slice_index("axial", item.idx)
    out = {}
    cid = item.concept.id
    for kind in prompts:
        if kind == "mask":
            region = mask_embedding if mask_embedding is not None else mask_region(runner, case, item)
        elif kind == "box":
            x0, y0, x1, y1 = tight_box(target)
            region = s.region_embedding(prompt={"space": "ijk", "slice": sl, "box": runner.input_point(x0, y0, item.idx)
                                                + runner.input_point(x1, y1, item.idx)})
        else:
            r, c = max_edt_point(target)
            region = s.region_embedding(prompt={"space": "ijk", "slice": sl, "points": [runner.input_point(c, r, item.idx)],
                                                "point_labels": [1]})
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


def named_together(runner: MedPCLIPRunner, items2d: Sequence[Item2D], names: list[str],
                   regions: dict[tuple[int, int], Any]) -> dict[tuple[int, int], bool]:
    """Per (slice, label value): whether the item is named right when the evaluated items of its slice are named
    together, a different name each (by mask, among the case's names; as ``Session.identify_together``, from the
    items' ``mask_region`` embeddings in ``regions``)."""
    from ..engine.recognition import name_embeddings_together

    by_slice: dict[int, list[Item2D]] = {}
    for item in items2d:
        by_slice.setdefault(item.idx, []).append(item)
    out = {}
    for idx, items in by_slice.items():
        # on the engine's model thread, as Session.identify_together runs (the Session class is at its size limit)
        named = runner.engine.worker.call(name_embeddings_together, runner.session,
                                          [regions[(idx, item.value)] for item in items], names, 1)
        for item, answer in zip(items, named):
            out[(idx, item.value)] = answer["id"] == item.concept.id
    return out


@dataclass
class ItemTrial:
    """One simulated session on one 2D item: the item, its first prompt and target, the simulation, and the
    runner's recognition of the item (empty for a method that does not recognise)."""

    item: Item2D
    first: str
    target: np.ndarray
    sim: Simulation
    recognition: dict[str, bool]


def item_trials(runner: MethodRunner, case: Case, items2d: Sequence[Item2D], firsts: Sequence[str], clicks: int,
                noc_max: int = 0, names: list[str] | None = None, dataset_names: list[str] | None = None,
                prompts: Sequence[str] = RECOGNITION_PROMPTS, together: bool = True) -> Iterator[ItemTrial]:
    """The 2D protocol of one opened runner over one case's items, item by item: recognition (a recognising
    runner, ``names`` given; ``prompts`` as in ``recognition``; with ``together``, also each slice's items named at
    once), then the simulated click loop per first prompt."""
    recognises = runner.recognises and names is not None
    # each item's mask embedding once: naming it alone and with its slice's other items both use it
    regions = ({(it.idx, it.value): mask_region(runner, case, it) for it in items2d}
               if recognises and (together or "mask" in prompts) else {})
    together_named = named_together(runner, items2d, names, regions) if together and recognises else {}
    for item in items2d:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        rec = (recognition(runner, case, item, names, dataset_names, prompts, regions.get((item.idx, item.value)))
               if recognises else {})
        if (item.idx, item.value) in together_named:
            rec["top1_together"] = together_named[(item.idx, item.value)]
        for first in firsts:
            yield ItemTrial(item, first, target, simulate(runner.predictor2d(item.idx), target, clicks, first, noc_max),
                            rec)


def run_items_2d(runner: MethodRunner, case: Case, items2d: Sequence[Item2D], opts: BenchmarkOptions, names: list[str],
                 dataset_names: list[str] | None, overlay_keys: set[tuple] = frozenset(),
                 examples: list[dict] | None = None, tick: Callable[[], Any] | None = None,
                 extra: dict[str, Any] | None = None) -> list[dict]:
    """``item_trials`` as the benchmark's trial dicts, one per (item, first prompt); ``extra`` is merged into each
    (patient mode: dataset, patient). Overlay examples of ``overlay_keys`` go to ``examples``."""
    trials = []
    for t in item_trials(runner, case, items2d, opts.first_prompts, opts.clicks, opts.noc_max, names, dataset_names):
        item, sim, first = t.item, t.sim, t.first
        trials.append({"method": runner.name, "case": case.spec.name, **(extra or {}), "modality": case.modality,
                       "structure": item.concept.id, "label": case.spec.labels[item.value],
                       "slice": input_slice(case, item.idx), "pixels": item.pixels, "first": first,
                       "dice": [round(v, 4) for v in sim.dice], "iou": [round(v, 4) for v in sim.iou],
                       "noc85": noc(sim.iou, 0.85, NOC_CAP), "noc90": noc(sim.iou, 0.90, NOC_CAP),
                       "clicks": [list(p) for p in sim.points], "box": list(sim.box) if sim.box else None,
                       **t.recognition})
        if opts.alternatives and first == "click" and isinstance(runner, MedPCLIPRunner):
            trials[-1]["answers_dice"] = runner.first_click_answers(item.idx, sim.points[0], t.target,
                                                                   trials[-1]["dice"][0])
        key = (case.spec.name, item.idx, item.value, first)
        if key in overlay_keys and examples is not None:
            done = min(opts.clicks, len(sim.dice))
            used = (1 if first == "click" else 0) + done - 1
            examples.append({"key": key, "method": runner.name, "mask": sim.at_clicks,
                             "points": sim.points[:used], "clicks": done,
                             "box": sim.box, "image": extract_slice(case.canon_image, "axial", item.idx),
                             "target": t.target, "dice": sim.dice[done - 1], "label": case.spec.labels[item.value]})
        if tick is not None:
            tick()
    return trials


# -- the 3D protocol --------------------------------------------------------------------------------------------
def run_3d(runner: MethodRunner, case: Case, slab: list[int], item: Item3D, opts: BenchmarkOptions) -> dict:
    """The box of ``item`` on its middle slice, then 3D correction clicks; Dice / IoU / NSD over the slab."""
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
            "label": case.spec.labels[item.value], "box": list(item.box), "mid_slice": input_slice(case, item.mid),
            "voxels": item.voxels, "dice": dices, "iou": ious, "nsd": nsds, "ms": [round(v, 1) for v in ms],
            "clicks": [list(p) for p in points[: max(0, len(dices) - 1)]]}
