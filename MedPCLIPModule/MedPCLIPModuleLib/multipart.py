"""multipart/form-data for the MONAI Label client (``backends.RemoteBackend``): the request body it sends and the
``output=all`` answer it reads. Standard library only."""

from __future__ import annotations

import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


def encode_multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """multipart/form-data body. Values: str (text field) or (filename, bytes, content_type)."""
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            filename, data, ctype = value
            out.append(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                       f"Content-Type: {ctype}\r\n\r\n".encode())
            out.append(data)
        else:
            out.append(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.append(str(value).encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def decode_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """{field name: (filename, payload)} of a multipart response (MONAI Label's ``output=all``)."""
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition") or f"part{len(parts)}"
        parts[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return parts


def label_suffix(filename: str | None, default: str = ".nii.gz") -> str:
    if not filename:
        return default
    for s in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha"):
        if filename.lower().endswith(s):
            return s
    return default
