"""Infer tasks. Each one turns a MONAI Label request into an engine call; none handles prompts, geometry or the
model itself (that is :mod:`medpclip.engine`).

Request keys common to all tasks (besides MONAI Label's own ``image``, ``model``, ``device``, ...):
the prompt contract of DESIGN.md section 6 (``space``, ``points``, ``point_labels``, ``box``, ``plane``,
``slice``, ``mode``) and MONAI Label's ``foreground`` / ``background`` (ijk) and ``roi`` (interleaved
``[i0, i1, j0, j1, k0, k1]``, unsorted). A label file uploaded with the request (multipart ``label``) is the
prior mask (``label_value`` picks one value; default: every non-zero voxel).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from ...engine.prompt import PromptSpec
from ...errors import PromptError
from ..runtime import Runtime, truthy

log = logging.getLogger(__name__)

PRIOR_FLAG = "medpclip_prior"     # set by the server's /infer route: a label file was uploaded with this request
RESULT_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".mha")


def _int_param(request: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = request.get(key, default)
    if value in (None, ""):
        return default
    try:
        out = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        out = None
    if out is None or not lo <= out <= hi:
        raise PromptError(f"{key} must be an integer in {lo}..{hi}, got {value!r}")
    return out


def _uploaded_label(request: dict) -> str | None:
    path = request.get("label")
    if not request.get(PRIOR_FLAG) or not isinstance(path, str) or not os.path.isfile(path):
        return None
    return path


def _strokes_upload(request: dict) -> bool:
    """Whether the uploaded label file is a strokes map (``label_kind`` ``strokes``) rather than a prior mask."""
    kind = str(request.get("label_kind") or "prior").lower()
    if kind not in ("prior", "strokes"):
        raise PromptError(f"label_kind must be 'prior' (a mask prompt) or 'strokes' (1 = positive, 2 = negative "
                          f"stroke), got {kind!r}")
    return kind == "strokes"


def _strokes_map(request: dict, session) -> Any:
    """The uploaded strokes label map on the image grid, or None."""
    path = _uploaded_label(request)
    if path is None or not _strokes_upload(request):
        return None
    from ...data.volume import read_label

    return read_label(path, like=session.volume).array


def _prior_mask(request: dict, session) -> Any:
    """The uploaded label file as a [k, j, i] bool mask in the image grid, or None."""
    path = _uploaded_label(request)
    if path is None or _strokes_upload(request):
        return None
    from ...data.volume import read_mask

    value = request.get("label_value")
    if value not in (None, ""):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise PromptError(f"label_value must be an integer, got {value!r}") from None
    else:
        value = None
    return read_mask(path, session.volume, value, what="the uploaded label")


def _result_path(request: dict) -> str:
    ext = str(request.get("result_extension") or ".nii.gz")
    if not ext.startswith("."):
        ext = "." + ext
    if ext not in RESULT_EXTENSIONS:
        raise PromptError(f"result_extension must be one of {list(RESULT_EXTENSIONS)}, got {ext!r}")
    fd, path = tempfile.mkstemp(suffix=ext, prefix="medpclip_label_")
    os.close(fd)
    return path


def _write(mask, session, request: dict) -> tuple[str, float]:
    from ...data.volume import write_label

    t0 = time.perf_counter()
    path = _result_path(request)
    try:
        write_label(mask, like=session.volume, path=path)
    except BaseException:
        os.unlink(path)
        raise
    return path, (time.perf_counter() - t0) * 1000


def _vocabulary(request: dict) -> list[str] | None:
    vocab = request.get("vocabulary")
    if vocab in (None, "", []):
        return None
    if isinstance(vocab, str):
        vocab = [v.strip() for v in vocab.split(",") if v.strip()]
    if not isinstance(vocab, list) or not all(isinstance(v, str) and v.strip() for v in vocab):
        raise PromptError("vocabulary must be a list of names (or a comma-separated string)")
    from ...data.vocabulary import check_names

    return check_names(vocab, "vocabulary")


def known_labels() -> dict[str, int]:
    """The names the app knows (the knowledge table's concepts), as MONAI Label's ``labels`` (name -> value): the
    MONAI Label Slicer plugin builds its label list from them. Free-text names work too."""
    from ...data.vocabulary import all_concepts

    return {c.name: n for n, c in enumerate(all_concepts(), start=1)}


class _EngineTask(InferTask):
    def __init__(self, runtime: Runtime, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    def is_valid(self) -> bool:
        return True

    def _open(self, request: dict):
        image = request.get("image")
        if not isinstance(image, str) or not image:
            raise FileNotFoundError("no image: give a datastore image id, a session id or an uploaded file")
        return self.runtime.session(image)

    @staticmethod
    def _base_params(info: dict) -> dict[str, Any]:
        return {"weights": info["weights"], "session_cached": info["session_cached"]}


class InteractiveTask(_EngineTask):
    """Points / box / prior mask / strokes / lasso -> segment (2D on one slice, or 3D propagated), quality score,
    top-k names."""

    PROMPTS = ("points", "foreground", "background", "box", "roi", "box_points", "prior_mask", "scribbles",
               "strokes_label_map", "lasso", "alternative")

    def info(self) -> dict[str, Any]:
        return {**super().info(), "prompts": list(self.PROMPTS)}

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            runtime,
            type=InferType.DEEPGROW,
            labels=known_labels(),
            dimension=3,
            description="MedP-CLIP interactive segmentation: positive / negative clicks, ROI box or prior mask; "
                        "2D when 'slice' is given, 3D (propagated) otherwise; returns score and top-k names",
            config={"mode": "auto", "identify": True, "top_k": 5},
        )

    def __call__(self, request) -> tuple[str | None, dict]:
        t0 = time.perf_counter()
        session, info = self._open(request)
        prior = _prior_mask(request, session)
        strokes = _strokes_map(request, session)
        prompt = PromptSpec.from_request(request)
        res = session.segment(prompt, prior_mask=prior, scribbles=strokes)
        top_k = _int_param(request, "top_k", 5, 1, 50)
        names, t_id = [], 0.0
        if truthy(request.get("identify"), True) and res.voxels:
            t1 = time.perf_counter()
            names = session.identify(result=res, vocabulary=_vocabulary(request), top_k=top_k)
            t_id = (time.perf_counter() - t1) * 1000
        path, t_write = _write(res.mask, session, request)
        label_name = request.get("label_name") or (names[0]["name"] if names else "region")
        latency = {**{k: round(v, 2) for k, v in res.latency_ms.items()}, "session_ms": info["session_ms"],
                   "identify_ms": round(t_id, 2), "write_ms": round(t_write, 2)}
        latency["task_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        summary = res.summary()
        params = {
            "label_names": {str(label_name): 1},
            "score": summary["score"], "voxels": summary["voxels"], "plane": res.plane, "slice": res.slice_index,
            "slices": summary["slices"], "slab": summary.get("slab"), "mode": prompt.mode, "identification": names,
            "warnings": summary["warnings"], "propagation": summary.get("propagation", []),
            **{k: summary[k] for k in ("alternative", "alternatives") if k in summary},
            "latency_ms": latency, **self._base_params(info),
        }
        return path, params


class IdentifyTask(_EngineTask):
    """Region (uploaded label file, or prompts) -> ranked names. JSON only."""

    PROMPTS = ("points", "foreground", "box", "roi", "box_points", "mask", "together")

    def info(self) -> dict[str, Any]:
        return {**super().info(), "prompts": list(self.PROMPTS)}

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            runtime,
            type=InferType.CLASSIFICATION,
            labels=known_labels(),
            dimension=3,
            description="MedP-CLIP identification: a region (label file or points / box) -> ranked anatomical names",
            config={"top_k": 5},
        )

    def __call__(self, request) -> tuple[str | None, dict]:
        t0 = time.perf_counter()
        session, info = self._open(request)
        top_k = _int_param(request, "top_k", 5, 1, 50)
        if truthy(request.get("together"), False):
            return None, self._together(request, session, info, top_k, t0)
        mask = _prior_mask(request, session)
        prompt = None
        if mask is None:
            prompt = PromptSpec.from_request(request, default_mode="2d")
            if not (prompt.points or prompt.box is not None or prompt.box_points):
                raise PromptError("identify needs a region: upload a label file, or give points / foreground / box / roi")
        names = session.identify(mask=mask, prompt=prompt, vocabulary=_vocabulary(request), top_k=top_k)
        latency = {"session_ms": info["session_ms"], "task_ms": round((time.perf_counter() - t0) * 1000, 2)}
        return None, {"identification": names, "top": names[0]["name"] if names else None,
                      "source": "mask" if mask is not None else "prompt", "latency_ms": latency,
                      **self._base_params(info)}


    def _together(self, request: dict, session, info: dict, top_k: int, t0: float) -> dict[str, Any]:
        """``together``: every value of the uploaded label file named at once, a different name each."""
        path = _uploaded_label(request)
        if path is None:
            raise PromptError("'together' names the values of an uploaded label file: upload one")
        from ...data.volume import read_label
        from ...engine.recognition import name_label_values

        labels = read_label(path, like=session.volume).array
        segments = name_label_values(session, labels, _vocabulary(request), top_k)
        latency = {"session_ms": info["session_ms"], "task_ms": round((time.perf_counter() - t0) * 1000, 2)}
        return {"segments": segments, "source": "label map", "latency_ms": latency, **self._base_params(info)}


class FindTask(_EngineTask):
    """Text -> the best-matching region, segmented (3D by default)."""

    def info(self) -> dict[str, Any]:
        return {**super().info(), "prompts": ["text"]}

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            runtime,
            type=InferType.SEGMENTATION,
            labels=known_labels(),
            dimension=3,
            description="MedP-CLIP find by text: 'text' (e.g. liver) -> segmentation of the best-matching region",
            config={"text": "", "mode": "3d"},
        )

    def __call__(self, request) -> tuple[str | None, dict]:
        t0 = time.perf_counter()
        text = request.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PromptError("find needs the search text in params 'text' (for example \"liver\")")
        mode = str(request.get("mode") or "3d").lower()
        if mode not in ("2d", "3d"):
            raise PromptError(f"mode must be '2d' or '3d', got {mode!r}")
        session, info = self._open(request)
        res = session.find(text.strip(), mode=mode)
        path, t_write = _write(res.mask, session, request)
        summary = res.summary()
        latency = {**{k: round(v, 2) for k, v in res.latency_ms.items() if k != "similarity"},
                   "session_ms": info["session_ms"], "write_ms": round(t_write, 2),
                   "task_ms": round((time.perf_counter() - t0) * 1000, 2)}
        return path, {"label_names": {text.strip(): 1}, "text": text.strip(),
                      "similarity": round(float(res.latency_ms.get("similarity", 0.0)), 4),
                      "score": summary["score"], "voxels": summary["voxels"], "plane": res.plane,
                      "slice": res.slice_index, "slices": summary["slices"], "slab": summary.get("slab"), "mode": mode,
                      "latency_ms": latency,
                      "warnings": summary["warnings"], "propagation": summary.get("propagation", []),
                      "found": summary.get("found"), **self._base_params(info)}
