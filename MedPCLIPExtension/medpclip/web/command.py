"""The ``medpclip web`` command: serve the page (``page.WebPage``) on one host and port."""

from __future__ import annotations

import argparse
import logging
import os

from ..errors import CLIError


def add_web(sub) -> None:
    p = sub.add_parser("web", help="volumetric review and interactive segmentation in the browser (trame-slicer)",
                       description="Serve a page with axial / coronal / sagittal Slicer views: click to segment, "
                                   "Propagate 3D, Undo, Name it, Find, save .seg.nrrd / DICOM SEG.")
    p.add_argument("image", nargs="?", help="an image file, a DICOM series folder, or a folder of studies")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines (no authentication)")
    p.add_argument("--server", help="segment on this MONAI Label server (medpclip app) instead of in process")
    p.add_argument("--checkpoint", help="model checkpoint (default: the bundled one)")
    p.add_argument("--modality", choices=["CT", "MR"], help="how to normalise intensities (default: DICOM tag, "
                                                            "else guessed from the intensities)")
    p.add_argument("--out-dir", default="medpclip-web", help="where Save writes (default ./medpclip-web)")
    p.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    from .module_lib import WebSetupError

    for noisy in ("trame_client", "trame_server", "trame_rca", "trame_slicer", "aiohttp.access", "wslink"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)

    if not port_is_free(args.host, args.port):
        raise CLIError(f"port {args.port} on {args.host} is in use; choose another with --port")
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # no X display: render with EGL
    try:
        from .page import WebPage

        page = WebPage(image=args.image, server_url=args.server, checkpoint=args.checkpoint, out_dir=args.out_dir,
                       modality=args.modality)
    except (WebSetupError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    page.start(host=args.host, port=args.port)
    return 0


def port_is_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
