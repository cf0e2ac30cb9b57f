"""``medpclip_finetune``: fine-tune MedP-CLIP on the datastore's final labels and publish the weights.

MONAI Label runs a train request in a child process (``monailabel.interfaces.utils.app -m train``); this task
runs there. It

1. builds a datalist from every image with a ``final`` label. Label names come from the label's info as the
   MONAI Label Slicer plugin saves it (``label_info: [{"name", "idx"}]``), or ``label_names`` ``{name: idx}`` /
   ``labels`` ``{idx: name}``. Values without a name the vocabulary knows are left out of training (a staged
   copy of the label map has them zeroed); an image with no usable value is skipped and reported;
2. holds a fifth of those images back (at least one; a single image is used for both), whole patients at a time
   where the images say whose they are (:func:`image_patient`), and trains with :func:`medpclip.training.trainer`
   on the rest, from the weights the infer tasks currently use;
3. scores the served weights and the new ones on the held-back images (``evaluation.validation``: click Dice@1 /
   @3 and naming Top-1) and, unless the new weights score lower (option ``publish``: ``if_not_worse``, the default,
   or ``always``), publishes them atomically (copy to a temp file in the model folder, fsync, rename) as
   ``<model_dir>/medpclip_finetuned.safetensors``; the infer tasks notice the new file on their next request.
   Weights that score lower stay in the run folder, and the stats say why they were not served.

Progress goes to ``<model_dir>/train_stats.json`` (written atomically every step), which the server reports
under ``train_stats`` in ``/info``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from monailabel.interfaces.datastore import Datastore, DefaultLabelTag
from monailabel.interfaces.tasks.train import TrainTask

from ...evaluation.validation import hold_back, split_unit
from ...fileio import atomic_copy, atomic_write, remove_stale_parts
from ..runtime import RuntimeConfig

log = logging.getLogger(__name__)

DEFAULTS = {"max_steps": 200, "batch_size": 4, "lr": 1e-4, "planes": "axial", "seed": 0, "threads": 0,
            "max_minutes": 30.0, "publish": "if_not_worse", "parts": "decoder"}
PUBLISH_RULES = ("if_not_worse", "always")
# what a fine-tune trains: "decoder" the mask decoder and its neck on the mask losses with up to 4 simulated
# correction clicks (naming cannot change: the region embedding is computed before them), "all" every weight on the
# mask and region-text losses (measured to cost naming on a few patients' labels: docs/RESULTS.md, session 45)
PARTS = {"decoder": {"trainable": ("mask_decoder", "neck"), "clip_weight": 0.0, "correction_rounds": 4},
         "all": {"trainable": (), "clip_weight": 1.0, "correction_rounds": 1}}


OPTION_TYPES = {"max_steps": int, "batch_size": int, "lr": float, "seed": int, "threads": int, "max_minutes": float}
POSITIVE = ("max_steps", "batch_size", "lr", "max_minutes")


def check_train_options(request: dict) -> None:
    """Refuse bad options before a training child is started (it would only fail later, in the background)."""
    for key, cast in OPTION_TYPES.items():
        if key not in request:
            continue
        value = request[key]
        try:
            number = cast(value)
            if isinstance(value, bool) or (cast is int and float(value) != number):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"train option {key} must be {'an integer' if cast is int else 'a number'}, "
                             f"got {str(value)[:40]!r}") from None
        if not math.isfinite(number) or number < 0 or (key in POSITIVE and number <= 0):
            raise ValueError(f"train option {key} must be {'positive' if key in POSITIVE else '>= 0'}, got {value!r}")
    for key, allowed in (("publish", PUBLISH_RULES), ("parts", tuple(PARTS))):
        if str(request.get(key, DEFAULTS[key])) not in allowed:
            raise ValueError(f"train option {key} must be one of {', '.join(allowed)}, got {str(request.get(key))[:40]!r}")
    planes = request.get("planes", DEFAULTS["planes"])
    unknown = {p.strip() for p in str(planes).split(",") if p.strip()} - {"axial", "coronal", "sagittal"}
    if unknown or not str(planes).strip():
        raise ValueError(f"train option planes must name axial, coronal and / or sagittal, got {str(planes)[:40]!r}")


def publish(src: Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` so that readers only ever see the old or the complete new file."""
    for stale in remove_stale_parts(dest):  # a publication killed mid-copy (one trainer at a time)
        log.warning("removed %s (left by an interrupted publication)", stale)
    return atomic_copy(src, dest)


def label_names(info: dict[str, Any]) -> dict[int, str]:
    """Label value -> name from a datastore label info (Slicer plugin / MONAI Label conventions)."""
    out: dict[int, str] = {}
    for item in info.get("label_info") or []:
        if isinstance(item, dict) and item.get("name") and str(item.get("idx", "")).lstrip("-").isdigit():
            out[int(item["idx"])] = str(item["name"])
    names = info.get("label_names")
    if isinstance(names, dict):
        for name, idx in names.items():
            if str(idx).isdigit():
                out.setdefault(int(idx), str(name))
    labels = info.get("labels")
    if isinstance(labels, dict):
        for idx, name in labels.items():
            if str(idx).isdigit() and isinstance(name, str):
                out.setdefault(int(idx), name)
    return {k: v for k, v in out.items() if k > 0 and v.strip()}


PATIENT_KEYS = ("patient", "patient_id", "PatientID")


def image_patient(info: dict[str, Any], dicom_files: list[str]) -> str | None:
    """Whose image this is: the image info's ``patient`` / ``patient_id`` / ``PatientID`` (the ``params`` of the
    image's upload), else a DICOM series' PatientID; None when neither says."""
    for key in PATIENT_KEYS:
        value = info.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    if dicom_files:
        import pydicom

        try:
            value = pydicom.dcmread(dicom_files[0], stop_before_pixels=True, specific_tags=["PatientID"]).get("PatientID")
        except Exception:  # the series was read already; a header we cannot parse only loses the grouping
            return None
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def build_datalist(datastore: Datastore, work: Path, seed: int = 0) -> tuple[Path, Path, list[dict[str, Any]], str]:
    """Write medpclip datalist JSONs from the datastore's final labels: the training images and the images held
    back to validate the new weights (``validation.hold_back``, whole patients where known). -> (training path,
    validation path, per-image report, the split's unit: ``validation.split_unit``); each usable image's entry says
    ``"role": "train" | "validation" | "train and validation"`` and, when known, its ``patient``."""
    import numpy as np

    from ...data.vocabulary import resolve
    from ...data.volume import read_image, read_label, write_label

    items, report = [], []
    for image_id in sorted(datastore.get_labeled_images()):
        image = datastore.get_image_uri(image_id)
        label = datastore.get_label_uri(image_id, DefaultLabelTag.FINAL)
        entry: dict[str, Any] = {"image": image_id}
        try:
            names = label_names(datastore.get_label_info(image_id, DefaultLabelTag.FINAL) or {})
            known = {v: n for v, n in names.items() if resolve(n, strict=False).known}
            vol = read_image(image)
            lab = read_label(label, like=vol)
            present = sorted(int(v) for v in np.unique(lab.array) if v > 0)
            keep = [v for v in present if v in known]
            dropped = [v for v in present if v not in known]
            entry.update(values=len(present), used={v: known[v] for v in keep}, dropped=len(dropped))
            if not keep:
                entry["skipped"] = "no label value has a known name (give label_info with vocabulary names)"
                report.append(entry)
                continue
            if dropped:
                arr = np.where(np.isin(lab.array, keep), lab.array, 0)
                label = str(write_label(arr, like=vol, path=work / f"{image_id}_label.nii.gz"))
            items.append({"name": image_id, "image": image, "label": label,
                          "labels": {str(v): known[v] for v in keep}, "modality": vol.modality})
            patient = image_patient(datastore.get_image_info(image_id) or {}, vol.dicom_files)
            if patient:  # the datalist's own key: the unit of the split below
                entry["patient"] = items[-1]["patient"] = patient
        except Exception as exc:  # one unreadable case must not stop the others
            entry["skipped"] = f"{type(exc).__name__}: {exc}"
        report.append(entry)
    patients = {it["name"]: it["patient"] for it in items if "patient" in it}
    train_names, val_names = hold_back([it["name"] for it in items], seed, patients)
    unit = split_unit(train_names, val_names, patients)
    for entry in report:
        if "skipped" not in entry:
            roles = [r for r, names in (("train", train_names), ("validation", val_names)) if entry["image"] in names]
            entry["role"] = " and ".join(roles)
    paths = []
    for file, names in (("datalist.json", train_names), ("validation.json", val_names)):
        paths.append(work / file)
        atomic_write(paths[-1], json.dumps({"training": [it for it in items if it["name"] in names]}, indent=1))
    return paths[0], paths[1], report, unit


class FinetuneTask(TrainTask):
    def __init__(self, config: RuntimeConfig) -> None:
        super().__init__("Fine-tune MedP-CLIP's mask decoder on the datastore's final labels, check the new weights "
                         "on held-back labelled images, and publish them (the infer tasks use them without a "
                         "restart) unless they score lower than the served weights")
        self.rc = config

    def config(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    # -- stats ----------------------------------------------------------------------------------
    def _write_stats(self, stats: dict[str, Any]) -> None:
        atomic_write(self.rc.train_stats_path, json.dumps(stats, indent=1, default=str))

    def stats(self) -> dict[str, Any]:
        path = self.rc.train_stats_path
        try:
            stats = json.loads(path.read_text())
        except (OSError, ValueError):
            return {"status": "NOT_STARTED", "published": self.rc.published_path.is_file()}
        pid = stats.get("pid")
        if stats.get("status") == "RUNNING" and pid and not _alive(int(pid)):
            stats["status"] = "STOPPED"
        stats["published"] = self.rc.published_path.is_file()
        return stats

    # -- run ------------------------------------------------------------------------------------
    def _option(self, request: dict, key: str, cast):
        value = request.get(key, DEFAULTS[key])
        try:
            return cast(value)
        except (TypeError, ValueError):
            raise ValueError(f"train option {key} must be {cast.__name__}, got {value!r}") from None

    def __call__(self, request, datastore: Datastore):
        from ...training.trainer import Trainer, TrainOptions

        started = time.time()
        max_steps = self._option(request, "max_steps", int)
        stats: dict[str, Any] = {"status": "RUNNING", "pid": os.getpid(), "started": started, "step": 0,
                                 "max_steps": max_steps, "loss": None}
        self._write_stats(stats)
        try:
            batch_size = self._option(request, "batch_size", int)
            if max_steps < 1 or batch_size < 1:
                raise ValueError("max_steps and batch_size must be positive")
            planes = tuple(p.strip() for p in str(request.get("planes", DEFAULTS["planes"])).split(",") if p.strip())
            run_dir = self.rc.model_dir / "train_runs" / time.strftime("%Y%m%d-%H%M%S")
            run_dir.mkdir(parents=True, exist_ok=True)
            stats["stage"] = "preparing data"
            self._write_stats(stats)
            datalist, validation_list, report, unit = build_datalist(datastore, run_dir,
                                                                     self._option(request, "seed", int))
            stats["cases"] = report
            usable = [r for r in report if "skipped" not in r]
            if not usable:
                raise ValueError("no usable final labels in the datastore (save labels whose label_info names "
                                 "structures from the vocabulary)")
            init_from, finetuned = self.rc.active_checkpoint()
            threads = self._option(request, "threads", int) or max(1, (os.cpu_count() or 2) // 2)
            opts = TrainOptions(data=str(datalist), out=str(run_dir), init_from=str(init_from),
                                max_steps=max_steps, batch_size=batch_size, lr=self._option(request, "lr", float),
                                warmup=max(1, max_steps // 10), seed=self._option(request, "seed", int),
                                planes=planes, holdout_fraction=0.0, save_every=max_steps + 1, threads=threads,
                                max_minutes=self._option(request, "max_minutes", float),
                                **PARTS[str(request.get("parts", DEFAULTS["parts"]))],
                                command=f"monailabel train medpclip_finetune {json.dumps(request, default=str)}")
            stats.update(init_from=str(init_from), init_finetuned=finetuned, run_dir=str(run_dir),
                         stage="loading cases and text bank")
            self._write_stats(stats)

            task = self

            class _ReportingTrainer(Trainer):
                def train_step(self, batch, rng):
                    out = super().train_step(batch, rng)
                    stats.update(step=self.step + 1, loss=round(out["loss"], 4), updated=time.time(), stage="training")
                    task._write_stats(stats)
                    return out

            summary = _ReportingTrainer(opts).fit(progress=False)
            stats.update(stage="validating", loss_start=summary.get("loss_start"), loss_end=summary.get("loss_end"),
                         steps=summary.get("steps"), checkpoint=summary["checkpoint"])
            self._write_stats(stats)
            serve, stats["validation"] = self._validate(init_from, Path(summary["checkpoint"]), validation_list,
                                                        unit, threads,
                                                        str(request.get("publish", DEFAULTS["publish"])))
            if serve:
                stats["stage"] = "publishing"
                self._write_stats(stats)
                stats["published_path"] = str(publish(Path(summary["checkpoint"]), self.rc.published_path))
                log.info("published fine-tuned weights: %s (%d steps)", stats["published_path"], stats["steps"] or 0)
            else:
                log.warning("fine-tuned weights kept out of service: %s", stats["validation"]["decision"])
            stats.update(status="DONE", stage="done", served_new_weights=serve, finished=time.time(),
                         wall_seconds=round(time.time() - started, 1))
            self._write_stats(stats)
            return {k: v for k, v in stats.items() if k != "pid"}
        except Exception as exc:
            stats.update(status="ERROR", error=f"{type(exc).__name__}: {exc}", finished=time.time())
            self._write_stats(stats)
            raise

    def _validate(self, served: Path, finetuned: Path, validation_list: Path, unit: str, threads: int,
                  rule: str) -> tuple[bool, dict[str, Any]]:
        """Score both weights on the held-back images; -> (serve the new weights, the stats' ``validation``:
        images, scores, the rule and its decision; ``unit``: ``patient`` when the held-back images are of patients
        the new weights were not trained on, ``image`` when patients are unknown, ``in_sample`` (also the flag
        ``in_sample``) when the one labelled image was also trained on)."""
        from ...data.datalist import load_cases
        from ...evaluation import validation

        specs = load_cases(validation_list)
        report: dict[str, Any] = {"images": [s.name for s in specs], "unit": unit, "in_sample": unit == "in_sample",
                                  "rule": rule}
        try:
            old, new = validation.score_checkpoints((served, finetuned), specs, threads)
        except validation.NothingToValidate as exc:  # unchecked weights are not served
            serve = rule == "always"
            report["decision"] = (f"{'published as asked (publish: always)' if serve else 'kept the served weights'}"
                                  f": the new weights could not be checked ({exc})")
            return serve, report
        report.update(served=old.as_dict(), finetuned=new.as_dict())
        not_worse, reason = validation.decide(old, new)
        serve = not_worse or rule == "always"
        report["decision"] = (("published: " if not_worse else "published as asked (publish: always): ") + reason
                              if serve else "kept the served weights: " + reason)
        return serve, report


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
