"""HTTP hardening of the MONAI Label server for this app (installed by the app when it starts in a server).

MONAI Label 0.8.5 behaviours fixed here, without patching MONAI Label itself:

* ``POST /infer/{model}`` is an ``async`` route that runs the whole inference on the event loop, so one click
  blocks every other request, ``/info`` included. It is replaced by a route with the same form fields that runs
  in FastAPI's thread pool and then calls MONAI Label's own ``run_inference``.
* Every exception became ``500 Internal Server Error`` with no message. Bad input now answers 4xx with a JSON
  body ``{"detail": <readable message>, "error": <type>}``: malformed ``params`` JSON 400, unknown model / image /
  session / strategy 404, a prompt that is invalid for this image (points outside it, empty prompt, ...) 422.
  The server keeps running either way.
* ``POST /train/{model}`` with an unknown trainer or bad options (``max_steps: "many"``, ``planes: "oblique"``)
  started a child process that failed later; now 404 / 422 before anything starts. Likewise
  ``POST /batch/infer/{model}`` and ``POST /scoring/{method}`` with an unknown name answered 200 and failed in the
  background; now 404. ``/proxy/dicom/...`` on a server whose studies are a folder answered 500; now 404.
* ``image=`` could name any existing file on the server (MONAI Label treats an existing path as the image). The
  route accepts datastore image ids only (or an uploaded file / a session id), so ``../`` cannot escape the
  studies folder. MONAI Label also merges ``params`` into the request, so ``params`` may not set ``image``,
  ``session`` or another ``model`` (400).
* Optional token auth (off by default): with ``$MEDPCLIP_TOKEN`` set (``medpclip serve --token``), every request
  but CORS preflights needs ``Authorization: Bearer <token>``; others get 401.

Exception handlers are registered on the FastAPI app and its middleware stack is rebuilt on the next request
(Starlette builds it once, before the app's lifespan starts, which is when MONAI Label creates this app).
"""

# no "from __future__ import annotations": FastAPI must see the real types of the route parameters

import hmac
import json
import logging
import os
import re
from typing import Optional

from ..service import TOKEN_ENV

log = logging.getLogger(__name__)

_installed = False
RESERVED_PARAMS = ("image", "session", "model")


class TokenAuth:
    """ASGI middleware: every HTTP / websocket request must carry ``Authorization: Bearer <token>``
    (compared in constant time). CORS preflights (OPTIONS) pass, as browsers send them without credentials."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")

    def _authorised(self, scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
        return False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "missing or wrong token: send the header 'Authorization: Bearer <token>'",
                           "error": "Unauthorized"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class NotFound(LookupError):
    """Unknown model / image / session (answered with HTTP 404)."""


def _json_error(status: int, exc: BaseException, detail: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"detail": detail or str(exc) or type(exc).__name__,
                                                     "error": type(exc).__name__})


def status_for(exc: BaseException) -> int | None:
    """HTTP status for an exception that means bad input, else None (a real server error)."""
    from monailabel.interfaces.exception import (ImageNotFoundException, LabelNotFoundException, MONAILabelError,
                                                 MONAILabelException)

    from ..errors import USER_ERRORS
    from ..model.checkpoint import CheckpointError
    from .datastore import DatastoreInputError

    if isinstance(exc, (NotFound, ImageNotFoundException, LabelNotFoundException)):
        return 404
    if isinstance(exc, (json.JSONDecodeError, DatastoreInputError)):
        return 400
    if isinstance(exc, CheckpointError):
        return None  # the server's own model file: a server error, not the client's
    if isinstance(exc, FileNotFoundError):
        return 404
    if isinstance(exc, USER_ERRORS):
        return 422
    if isinstance(exc, MONAILabelException):
        msg = str(getattr(exc, "msg", "") or "")
        if "no model" in msg.lower() or "no such strategy" in msg.lower() or "not found" in msg.lower():
            return 404
        if exc.error == MONAILabelError.INVALID_INPUT:
            return 400
    return None


def _clip(value: str, limit: int = 80) -> str:
    """repr of a client string for a message, cut to ``limit`` characters (ids can be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value)} characters)"


MAX_MESSAGE = 500


# a directory part of an absolute path: "/srv/studies/x.nii.gz" -> "x.nii.gz" (server paths are not the client's
# business, and the file name is what the user recognises)
_SERVER_DIRS = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?[/\\](?:[^/\\\s\"'()]+[/\\])+")


def redact_paths(text: str) -> str:
    return _SERVER_DIRS.sub("", text)


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None)
    if isinstance(exc, json.JSONDecodeError):
        return f"params is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    text = redact_paths(str(msg if msg else exc)) or type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "... (cut)"   # messages echo client strings


def _handlers():
    from monailabel.interfaces.exception import MONAILabelException

    from ..errors import USER_ERRORS
    from .datastore import DatastoreInputError

    async def handle(request, exc):
        status = status_for(exc)
        if status is None:
            log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
            return _json_error(500, exc, f"server error: {_message(exc)}")
        return _json_error(status, exc, _message(exc))

    classes = {MONAILabelException, NotFound, DatastoreInputError, json.JSONDecodeError, *USER_ERRORS}
    return {cls: handle for cls in classes}


def _replace_route(app, path: str, method: str, new_route) -> bool:
    from fastapi.routing import APIRoute

    routes = app.router.routes
    for n, route in enumerate(routes):
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            routes[n] = new_route
            return True
    routes.insert(0, new_route)
    return False


def _check_binary_label(instance, image: str, label) -> None:
    """MONAI Label reshapes a raw ``.bin`` label (OHIF scribbles) to the image; a wrong size was a 500."""
    from fastapi import HTTPException

    from ..data.volume import VolumeError, read_header

    uri = instance.datastore().get_image_uri(image) if image else ""
    if not uri:
        raise HTTPException(status_code=400, detail="a raw .bin label needs a datastore image (?image=<id>)")
    try:
        size, _ = read_header(uri)
    except VolumeError as exc:
        raise HTTPException(status_code=422, detail=_message(exc)) from None
    voxels = size[0] * size[1] * size[2]
    if label.size is not None and label.size != voxels:
        raise HTTPException(status_code=422, detail=f"the .bin label has {label.size} bytes; the image has {voxels} "
                                                    "voxels (one uint8 per voxel expected)")


def _infer_route(prefix: str):
    from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, HTTPException, UploadFile
    from monailabel.config import settings
    from monailabel.endpoints import infer as infer_endpoint
    from monailabel.endpoints.user.auth import RBAC, User
    from monailabel.interfaces.utils.app import app_instance

    from .datastore import check_name
    from .tasks.infer import PRIOR_FLAG

    router = APIRouter()

    @router.post(f"{prefix}/infer/{{model}}", summary=f"{settings.MONAI_LABEL_AUTH_ROLE_USER} Run Inference "
                 "(MedP-CLIP: runs off the event loop; bad input answers 4xx)", tags=["Infer"])
    def api_run_inference(
        background_tasks: BackgroundTasks,
        model: str,
        image: str = "",
        session_id: str = "",
        params: str = Form("{}"),
        file: UploadFile = File(None),
        label: UploadFile = File(None),
        output: Optional[infer_endpoint.ResultType] = None,
        user: User = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_USER)),
    ):
        instance = app_instance()
        infers = getattr(instance, "_infers", {})
        if model not in infers:
            raise HTTPException(status_code=404, detail=f"unknown model {_clip(model)}; available: {sorted(infers)}")
        try:
            p = json.loads(params) if params else {}
        except json.JSONDecodeError as exc:
            raise HTTPException(status_code=400, detail=_message(exc)) from None
        if not isinstance(p, dict):
            raise HTTPException(status_code=400, detail="params must be a JSON object")
        # MONAI Label merges params into the request: "image" there would name any file on the server
        for key in RESERVED_PARAMS:
            if key in p and not (key == "model" and p[key] == model):
                raise HTTPException(status_code=400, detail=f"params may not set {key!r}; give the image as ?image=<id>, "
                                                            "a session_id or an uploaded file")
        if session_id:
            check_name(session_id, "session id")
            if instance.sessions() is None or not instance.sessions().get_session(session_id):
                raise HTTPException(status_code=404, detail=f"unknown or expired session {_clip(session_id)}")
        elif not file:
            if not image:
                raise HTTPException(status_code=400, detail="give an image id (?image=...), a session_id or a file")
            if not instance.datastore().get_image_uri(image):
                raise HTTPException(status_code=404, detail=f"unknown image id {_clip(image)}")
        if label is not None and (label.filename or "").endswith(".bin"):
            _check_binary_label(instance, image, label)
        # The Slicer plugin sends its segment name as params "label", which would hide an uploaded label file.
        if isinstance(p.get("label"), str):
            p.setdefault("label_name", p.pop("label"))
        p[PRIOR_FLAG] = label is not None
        try:
            return infer_endpoint.run_inference(background_tasks, model, image, session_id, json.dumps(p), file,
                                                label, output)
        except HTTPException:
            raise
        except Exception as exc:
            status = status_for(exc)
            if status is None:
                log.exception("infer %s on %r failed", model, image)
                raise HTTPException(status_code=500, detail=f"server error: {_message(exc)}") from None
            raise HTTPException(status_code=status, detail=_message(exc)) from None

    return router.routes[0]


def _train_route(prefix: str):
    from fastapi import APIRouter, Depends, HTTPException
    from monailabel.config import settings
    from monailabel.endpoints import train as train_endpoint
    from monailabel.endpoints.user.auth import RBAC, User
    from monailabel.interfaces.utils.app import app_instance

    from .tasks.train import check_train_options

    router = APIRouter()

    @router.post(f"{prefix}/train/{{model}}", summary=f"{settings.MONAI_LABEL_AUTH_ROLE_ADMIN} Run Training Task for "
                 "specific model (unknown model: 404)", tags=["Train"])
    async def api_run_model(model: str, params: Optional[dict] = None, run_sync: Optional[bool] = False,
                            enqueue: Optional[bool] = False,
                            user: User = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_ADMIN))):
        trainers = getattr(app_instance(), "_trainers", {})
        if model not in trainers:
            raise HTTPException(status_code=404, detail=f"unknown trainer {_clip(model)}; available: {sorted(trainers)}")
        try:
            check_train_options(params or {})
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return train_endpoint.run_model(model, params, run_sync, enqueue)

    return router.routes[0]


def _known_name(registry: str, what: str):
    """A route dependency: 404 for a path name the app does not have (MONAI Label submitted a background job that
    failed later, answering 200)."""
    from fastapi import HTTPException
    from monailabel.interfaces.utils.app import app_instance

    def check(name: str) -> None:
        known = getattr(app_instance(), registry, {}) or {}
        if name not in known:
            raise HTTPException(status_code=404, detail=f"unknown {what} {_clip(name)}; available: {sorted(known)}")

    return check


def _guarded(path: str, endpoint, param: str, registry: str, what: str):
    """A POST route for MONAI Label's ``endpoint`` that first checks its path parameter ``param``
    (``_known_name``); inserted before the stock route, it shadows it."""
    from fastapi import Depends, Path
    from fastapi.routing import APIRoute

    check = _known_name(registry, what)

    def dependency(name: str = Path(..., alias=param)) -> None:
        check(name)

    return APIRoute(path, endpoint, methods=["POST"], dependencies=[Depends(dependency)],
                    summary=f"(unknown {what}: 404)", tags=["MedP-CLIP"])


def _no_dicomweb_route(prefix: str):
    """With a studies folder (not a DICOMweb URL) ``/proxy/...`` can only fail (stock: HTTP 500): 404 instead."""
    from fastapi import HTTPException
    from fastapi.routing import APIRoute

    async def no_dicomweb(path: str):
        raise HTTPException(status_code=404, detail="this server has no DICOMweb backend (its studies are a folder)")

    return APIRoute(f"{prefix}/proxy/{{path:path}}", no_dicomweb, methods=["GET", "POST"], include_in_schema=False)


def install(fastapi_app=None) -> bool:
    """Harden the running MONAI Label FastAPI app (idempotent). Returns False when there is none to harden."""
    global _installed
    if _installed:
        return True
    if fastapi_app is None:
        import sys

        if "monailabel.app" not in sys.modules:  # e.g. the train child process: no HTTP server here
            return False
        fastapi_app = sys.modules["monailabel.app"].app
    from monailabel.config import settings

    prefix = settings.MONAI_LABEL_API_STR.rstrip("/")
    _replace_route(fastapi_app, f"{prefix}/infer/{{model}}", "POST", _infer_route(prefix))
    _replace_route(fastapi_app, f"{prefix}/train/{{model}}", "POST", _train_route(prefix))
    from monailabel.endpoints import batch_infer, scoring

    for path, endpoint, param, registry, what in (
            (f"{prefix}/batch/infer/{{model}}", batch_infer.api_run, "model", "_infers", "model"),
            (f"{prefix}/scoring/{{method}}", scoring.api_run_method, "method", "_scoring_methods", "scoring method")):
        _replace_route(fastapi_app, path, "POST", _guarded(path, endpoint, param, registry, what))
    if not str(settings.MONAI_LABEL_STUDIES).startswith(("http://", "https://")):
        fastapi_app.router.routes.insert(0, _no_dicomweb_route(prefix))
    for cls, handler in _handlers().items():
        fastapi_app.add_exception_handler(cls, handler)
    fastapi_app.middleware_stack = None  # rebuilt with the handlers above on the next request
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        fastapi_app.add_middleware(TokenAuth, token=token)
    _installed = True
    log.info("MedP-CLIP server hardening installed (non-blocking /infer, 4xx for bad input, token auth %s)",
             "on" if token else "off")
    return True
