"""Where the model runs: in-process (``LocalBackend``, the ``medpclip`` engine on torch, CUDA when present) or
on a MONAI Label server (``RemoteBackend``, the ``medpclip`` MONAI Label app). No MRML and no Qt here: a backend
gets plain arrays + the world affine and a DESIGN section 6 prompt dict, so it can run on a worker thread.

Both backends speak the same prompt contract (``medpclip.engine.prompt``), with the prompt in world ``ras``
(points, an ROI's ``box_points``, the viewer's ``view_point``); neither re-implements prompt handling,
geometry or model calls: the local one calls ``medpclip.engine`` directly (the engine converts world -> voxel
with the volume's affine and checks the prompt), the remote one sends the prompt to the server, which calls the
same engine. A result reports the slab of the input array it speaks for (``SegmentOutput.slab``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .multipart import decode_multipart, encode_multipart, label_suffix

log = logging.getLogger(__name__)


class MedPCLIPError(RuntimeError):
    """A user-facing problem (bad prompt, server down, missing checkpoint...). The message is one clear line."""


class BackendUnavailable(MedPCLIPError):
    """The backend cannot run at all (dependencies missing, server unreachable)."""


@dataclass
class VolumeData:
    """What a backend needs to know about a volume node; filled on the main thread."""

    key: tuple                    # changes when the voxels or the world geometry change
    array: np.ndarray             # [k, j, i], the node's own dtype
    affine: np.ndarray            # index -> world RAS (parent transforms included)
    name: str = "volume"
    modality: str | None = None
    patient: str | None = None    # the subject hierarchy's patient (mrml_util.volume_patient_id); None: not known

    _digest: str | None = field(default=None, repr=False)

    def digest(self) -> str:
        """Content hash of voxels + geometry (names the image on a MONAI Label server)."""
        if self._digest is None:
            h = hashlib.sha256()
            h.update(str(self.array.dtype).encode())
            h.update(np.asarray(self.array.shape, np.int64).tobytes())
            h.update(np.round(np.asarray(self.affine, float), 6).tobytes())
            h.update(np.ascontiguousarray(self.array).tobytes())
            self._digest = h.hexdigest()
        return self._digest


@dataclass
class SegmentOutput:
    mask: np.ndarray              # [k, j, i] uint8 on the volume's grid
    score: float
    plane: str = "axial"
    slice_index: int | None = None  # prompted slice, index of the input image along the plane's normal axis
    info: dict[str, Any] = field(default_factory=dict)
    # (array axis, first, last): the slices of the [k, j, i] array the result speaks for (the engine's
    # ``SegmentationResult.slab_range``); None when unknown
    slab: tuple[int, int, int] | None = None

    @property
    def slab_index(self) -> tuple[slice, slice, slice] | None:
        """Index expression of ``mask`` covering ``slab``."""
        if self.slab is None:
            return None
        axis, first, last = self.slab
        index = [slice(None)] * 3
        index[axis] = slice(first, last + 1)
        return tuple(index)


def _slab(value: Any) -> tuple[int, int, int] | None:
    """A result summary's ``slab`` ({"array_axis", "first", "last"}) as a tuple; None when absent."""
    if not isinstance(value, dict):
        return None
    try:
        return int(value["array_axis"]), int(value["first"]), int(value["last"])
    except (KeyError, TypeError, ValueError):
        return None


def _user_errors():
    try:
        from medpclip.errors import USER_ERRORS
    except Exception:  # pragma: no cover - medpclip import problems are reported elsewhere
        return (ValueError,)
    return USER_ERRORS


# ================================================================================================ local

def _output(res) -> SegmentOutput:
    """An engine ``SegmentationResult`` as a backend answer."""
    slab = None if res.slab_range is None else tuple(int(v) for v in res.slab_range)
    return SegmentOutput(res.mask.astype(np.uint8), float(res.score), res.plane, res.slice_index, res.summary(), slab)


class LocalBackend:
    """The ``medpclip`` engine in this Python process. Sessions (normalised volume + cached trunk features)
    are kept per volume key, so only the first prompt on a volume pays for the encoding."""

    name = "local"

    def __init__(self, checkpoint: str | None = None, device: str = "auto", threads: int | None = None,
                 engine=None, max_sessions: int = 2) -> None:
        self.checkpoint = checkpoint
        self.device = device
        self.threads = threads
        self._engine = engine
        self._sessions: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.RLock()
        self.max_sessions = max_sessions

    # -- engine / sessions --------------------------------------------------------------------------
    @property
    def engine(self):
        with self._lock:
            if self._engine is None:
                try:
                    from medpclip.engine import Engine
                except ImportError as exc:
                    raise BackendUnavailable(f"the local backend needs the medpclip engine and PyTorch ({exc}); "
                                             "install the dependencies from the module panel") from exc
                try:
                    self._engine = Engine.from_checkpoint(self.checkpoint, device=self.device, threads=self.threads)
                except _user_errors() as exc:
                    raise MedPCLIPError(f"cannot load the model: {exc}") from exc
            return self._engine

    def session(self, volume: VolumeData):
        with self._lock:
            s = self._sessions.get(volume.key)
            if s is not None:
                self._sessions.move_to_end(volume.key)
                return s
            try:
                s = self.engine.open(volume.array, affine=volume.affine, modality=volume.modality, name=volume.name)
            except _user_errors() as exc:
                raise MedPCLIPError(str(exc)) from exc
            self._sessions[volume.key] = s
            while len(self._sessions) > self.max_sessions:
                _, old = self._sessions.popitem(last=False)
                old.close()
            return s

    def forget(self, key_prefix=None) -> None:
        with self._lock:
            for k in [k for k in self._sessions if key_prefix is None or k[: len(key_prefix)] == key_prefix]:
                self._sessions.pop(k).close()

    # -- tasks --------------------------------------------------------------------------------------
    def _call(self, volume: VolumeData, task):
        """``task(session)`` on ``volume``'s session; the engine's user errors become MedPCLIPError."""
        session = self.session(volume)
        try:
            return task(session)
        except _user_errors() as exc:
            raise MedPCLIPError(str(exc)) from exc

    def segment(self, volume: VolumeData, prompt: dict, prior_mask: np.ndarray | None = None,
                scribbles: np.ndarray | None = None) -> SegmentOutput:
        return _output(self._call(volume, lambda s: s.segment(prompt, prior_mask=prior_mask, scribbles=scribbles)))

    def identify(self, volume: VolumeData, mask: np.ndarray, vocabulary: list[str] | None, top_k: int) -> list[dict]:
        return self._call(volume, lambda s: s.identify(mask=mask, vocabulary=vocabulary, top_k=top_k))

    def identify_together(self, volume: VolumeData, labels: np.ndarray, vocabulary: list[str] | None,
                          top_k: int) -> list[dict]:
        """Every value of ``labels`` named at once, a different name each (values with no voxel left out)."""
        from medpclip.engine.recognition import name_label_values

        return self._call(volume, lambda s: name_label_values(s, labels, vocabulary, top_k))

    def find(self, volume: VolumeData, text: str, mode: str = "3d") -> SegmentOutput:
        return _output(self._call(volume, lambda s: s.find(text, mode=mode)))

    def close(self) -> None:
        self.forget()


# =============================================================================================== remote

def _legacy_slab(volume: VolumeData, plane: str, slice_index: int | None, mask: np.ndarray):
    """The slab of a server that does not report one (before results carried ``slab``): the reported slice, else
    the mask's own single plane, along ``plane``'s array axis (the engine's ``VolumeGeometry``); None when
    neither is known (then a 2D result replaces the whole segment)."""
    from medpclip.data.geometry import VolumeGeometry

    try:
        axis = VolumeGeometry(volume.affine, volume.array.shape[::-1]).array_axis(plane)
    except (KeyError, ValueError):
        return None
    if slice_index is None:
        used = np.flatnonzero(np.asarray(mask).any(axis=tuple(a for a in range(3) if a != axis)))
        if len(used) != 1:
            return None
        slice_index = int(used[0])
    return axis, int(slice_index), int(slice_index)


class RemoteBackend:
    """A MONAI Label server running the medpclip app (``medpclip serve --studies DIR --port N``).

    The volume is uploaded once to the server's datastore under a content-derived id (``slicer-<hash>``; the
    world geometry, parent transforms included, travels in the file), then each prompt sends only the prompt:
    ``POST /infer/medpclip_interactive?image=<id>`` with the DESIGN section 6 prompt as ``params`` (space "ras").
    """

    name = "remote"

    def __init__(self, url: str, timeout: float = 300.0, interactive_task: str | None = None,
                 identify_task: str | None = None, find_task: str | None = None, token: str | None = None) -> None:
        from medpclip import service  # the task names and the token variable, as the server defines them

        url = (url or "").strip()
        if not url:
            raise MedPCLIPError("no MONAI Label server URL given")
        if "://" not in url:
            url = "http://" + url
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise MedPCLIPError(f"'{url}' is not an http(s) URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.tasks = {"segment": interactive_task or service.INTERACTIVE_TASK,
                      "identify": identify_task or service.IDENTIFY_TASK, "find": find_task or service.FIND_TASK}
        self.token_env = service.TOKEN_ENV   # the server's optional shared secret (``medpclip serve --token``)
        token = (os.environ.get(self.token_env, "") if token is None else token).strip()
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._uploaded: dict[str, str] = {}   # volume digest -> image id on the server
        self._lock = threading.Lock()

    # -- http ---------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, query: dict | None = None, fields: dict | None = None,
                 timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data, headers = None, {"Accept": "*/*", **self._auth}
        if fields is not None:
            data, ctype = encode_multipart(fields)
            headers["Content-Type"] = ctype
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            detail = body.decode("utf-8", "replace").strip()
            try:
                parsed = json.loads(detail)
                if isinstance(parsed, dict) and "detail" in parsed:
                    detail = parsed["detail"]
                    if isinstance(detail, list):  # FastAPI validation errors
                        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
            except ValueError:
                pass
            if method == "HEAD" and exc.code != 401:
                return exc.code, {}, b""
            if exc.code == 401:
                detail = (f"the server needs a token: set {self.token_env} in Slicer's environment to the server's token"
                          if not self._auth else f"the server refused the token ({self.token_env}) as wrong")
            raise MedPCLIPError(f"MONAI Label server {self.url}: {detail or exc.reason} (HTTP {exc.code})") from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailable(f"cannot reach the MONAI Label server at {self.url} ({reason}); "
                                     "is it running? (medpclip serve --studies DIR --port N)") from None

    def info(self) -> dict[str, Any]:
        status, _, body = self._request("GET", "/info/", timeout=min(self.timeout, 15))
        try:
            return json.loads(body)
        except ValueError:
            raise MedPCLIPError(f"{self.url} answered /info/ with something that is not JSON; "
                                "is this a MONAI Label server?") from None

    def test_connection(self) -> dict[str, Any]:
        """Server name, version and the medpclip tasks it offers; a clear error if unreachable or not ours."""
        info = self.info()
        models = info.get("models", {}) or {}
        if self.tasks["segment"] not in models:
            raise MedPCLIPError(f"the server at {self.url} ({info.get('name', 'MONAI Label')}) has no "
                                f"'{self.tasks['segment']}' task (it offers: {', '.join(models) or 'none'}); "
                                "start it with `medpclip serve`")
        return {"name": info.get("name", ""), "version": info.get("version", ""), "url": self.url,
                "tasks": [t for t in self.tasks.values() if t in models], "models": list(models)}

    # -- datastore ----------------------------------------------------------------------------------
    def image_id(self, volume: VolumeData) -> str:
        return f"slicer-{volume.digest()[:24]}"

    def ensure_image(self, volume: VolumeData) -> str:
        """Upload the volume to the server's datastore unless an image with its content id is already there."""
        digest = volume.digest()
        with self._lock:
            if digest in self._uploaded:
                return self._uploaded[digest]
        image_id = self.image_id(volume)
        status, _, _ = self._request("HEAD", "/datastore/image", {"image": image_id})
        if status != 200:
            from medpclip.data.volume import Volume, write_array

            tmpdir = tempfile.mkdtemp(prefix="medpclip-upload-")
            try:
                path = os.path.join(tmpdir, image_id + ".nii.gz")
                write_array(np.ascontiguousarray(volume.array), Volume(volume.array, volume.affine), path)
                with open(path, "rb") as f:
                    data = f.read()
                # the patient travels in the upload's params: the server's fine-tune check splits by patient
                params = {"source": "3D Slicer MedPCLIP module", "name": volume.name,
                          **({"patient": volume.patient} if volume.patient else {})}
                self._request("PUT", "/datastore/", {"image": image_id},
                              {"params": json.dumps(params),
                               "file": (image_id + ".nii.gz", data, "application/gzip")})
            finally:
                shutil.rmtree(tmpdir, ignore_errors=True)
        with self._lock:
            self._uploaded[digest] = image_id
        return image_id

    def _label_file(self, volume: VolumeData, mask: np.ndarray) -> tuple[str, bytes, str]:
        from medpclip.data.volume import Volume, write_label

        tmpdir = tempfile.mkdtemp(prefix="medpclip-label-")
        try:
            path = os.path.join(tmpdir, "mask.nii.gz")
            write_label(np.asarray(mask, np.uint8), Volume(volume.array, volume.affine), path)
            with open(path, "rb") as f:
                return "mask.nii.gz", f.read(), "application/gzip"
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def _read_mask(self, volume: VolumeData, filename: str | None, data: bytes) -> np.ndarray:
        from medpclip.data.volume import VolumeError, read_label

        tmpdir = tempfile.mkdtemp(prefix="medpclip-result-")
        try:
            path = os.path.join(tmpdir, "result" + label_suffix(filename))
            with open(path, "wb") as f:
                f.write(data)
            try:
                lab = read_label(path)
            except VolumeError as exc:
                raise MedPCLIPError(f"the server's result is not a readable label map ({exc})") from None
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if lab.array.shape != volume.array.shape or not np.allclose(lab.affine, volume.affine, atol=1e-2):
            raise MedPCLIPError(f"the server's result grid {lab.array.shape[::-1]} does not match the volume "
                                f"{volume.array.shape[::-1]}; result discarded")
        return (lab.array > 0).astype(np.uint8)

    def _infer(self, task: str, image_id: str, params: dict, label: tuple | None = None, output: str = "all"):
        fields: dict[str, Any] = {"params": json.dumps(params)}
        if label is not None:
            fields["label"] = label
        return self._request("POST", f"/infer/{task}", {"image": image_id, "output": output}, fields)

    def _segment_response(self, volume: VolumeData, status, headers, body) -> SegmentOutput:
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/"):
            parts = decode_multipart(body, ctype)
            params = json.loads(parts.get("params", (None, b"{}"))[1] or b"{}")
            files = [(fn, data) for name, (fn, data) in parts.items() if name != "params"]
            if not files:
                raise MedPCLIPError(f"the server returned no label image ({params.get('error', 'no detail')})")
            mask = self._read_mask(volume, *files[0])
        elif ctype.startswith("application/json"):
            params = json.loads(body or b"{}")
            raise MedPCLIPError(f"the server returned no label image ({params.get('error') or params})")
        else:
            params = {}
            mask = self._read_mask(volume, None, body)
        if isinstance(params, str):
            params = json.loads(params)
        score = params.get("score", params.get("quality", float("nan")))
        plane, slice_index = params.get("plane", "axial"), params.get("slice")
        slab = _slab(params.get("slab"))
        if slab is None:
            slab = _legacy_slab(volume, plane, slice_index, mask)
        return SegmentOutput(mask, float(score) if score is not None else float("nan"), plane, slice_index, params,
                             slab)

    # -- tasks --------------------------------------------------------------------------------------
    def segment(self, volume: VolumeData, prompt: dict, prior_mask: np.ndarray | None = None,
                scribbles: np.ndarray | None = None) -> SegmentOutput:
        if prior_mask is not None and scribbles is not None:
            raise MedPCLIPError("a MONAI Label request carries one label file: use the segment as mask prompt or "
                                "strokes, not both")
        image_id = self.ensure_image(volume)
        upload = prior_mask if prior_mask is not None else scribbles
        label = self._label_file(volume, upload) if upload is not None else None
        params = {**prompt, "identify": False}  # naming is a separate, explicit step in the module
        if scribbles is not None:
            params["label_kind"] = "strokes"
        return self._segment_response(volume, *self._infer(self.tasks["segment"], image_id, params, label))

    def identify(self, volume: VolumeData, mask: np.ndarray, vocabulary: list[str] | None, top_k: int) -> list[dict]:
        if not np.asarray(mask).any():
            raise MedPCLIPError("the mask is empty: nothing to identify")
        image_id = self.ensure_image(volume)
        params: dict[str, Any] = {"top_k": int(top_k)}
        if vocabulary is not None:
            params["vocabulary"] = list(vocabulary)
        _, headers, body = self._infer(self.tasks["identify"], image_id, params, self._label_file(volume, mask),
                                       output="json")
        data = json.loads(body or b"{}")
        if isinstance(data, str):
            data = json.loads(data)
        ranking = data
        if isinstance(data, dict):
            ranking = next((data[k] for k in ("identification", "ranking", "names", "results", "predictions")
                            if isinstance(data.get(k), list)), None)
        if not isinstance(ranking, list):
            raise MedPCLIPError(f"the server's identify answer has no ranked names: {str(data)[:200]}")
        return [{"name": r.get("name"), "id": r.get("id", r.get("name")), "score": float(r.get("score", 0.0))}
                for r in ranking if isinstance(r, dict)]

    def identify_together(self, volume: VolumeData, labels: np.ndarray, vocabulary: list[str] | None,
                          top_k: int) -> list[dict]:
        """Every value of ``labels`` (uint8) named at once by the server's identify task (``together``)."""
        params = {"top_k": int(top_k), "together": True, **({"vocabulary": list(vocabulary)} if vocabulary else {})}
        _, _, body = self._infer(self.tasks["identify"], self.ensure_image(volume), params,
                                 self._label_file(volume, labels), output="json")
        data = json.loads(body or b"{}")
        return (data.get("segments") if isinstance(data, dict) else None) or []

    def find(self, volume: VolumeData, text: str, mode: str = "3d") -> SegmentOutput:
        image_id = self.ensure_image(volume)
        return self._segment_response(volume, *self._infer(self.tasks["find"], image_id, {"text": text, "mode": mode}))

    def close(self) -> None:
        pass
