"""Helpers shared by several test modules (not fixtures: they take their own paths)."""

from __future__ import annotations

import socket
import subprocess

import SimpleITK as sitk


def write_dicom_series(vol_path, folder):
    """A CT DICOM series (one file per slice, with study / series / SOP instance UIDs) from an image file."""
    img = sitk.Cast(sitk.ReadImage(str(vol_path)), sitk.sitkInt16)
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = img.GetDirection()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.77"
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        for tag, value in {"0008|0060": "CT", "0020|000e": series_uid, "0020|000d": series_uid + ".1",
                           "0020|0013": str(k + 1), "0008|0018": f"{series_uid}.{k + 2}",
                           "0020|0037": "\\".join(f"{v:.6f}" for v in (direction[0], direction[3], direction[6],
                                                                         direction[1], direction[4], direction[7])),
                           "0020|0032": "\\".join(f"{v:.6f}" for v in img.TransformIndexToPhysicalPoint((0, 0, k))),
                           "0028|1053": "1", "0028|1052": "0", "0020|0052": series_uid + ".99",
                           "0008|0016": "1.2.840.10008.5.1.4.1.1.2", "0010|0010": "Sample^CT", "0010|0020": "TS001",
                           "0008|0020": "20200101", "0020|0011": "1", "0008|0050": "1",
                           "0018|0050": f"{img.GetSpacing()[2]:.4f}"}.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(sl)


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Terminate a server started by a test; kill it when it does not stop within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_passes(session, monkeypatch) -> list:
    """Record the view of every model pass the session runs (``Session.predict_views``, which ``predict_slice``
    calls; a batch of views counts one pass per view)."""
    views = []
    original = type(session).predict_views

    def counted(self, plane, idx, points, windows, *args, **kwargs):
        views.extend(windows)
        return original(self, plane, idx, points, windows, *args, **kwargs)

    monkeypatch.setattr(type(session), "predict_views", counted)
    return views
