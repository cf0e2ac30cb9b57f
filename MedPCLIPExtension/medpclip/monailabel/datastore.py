"""A local datastore that cannot lose or corrupt labels and keeps ids inside the studies folder.

MONAI Label's ``LocalDatastore`` copies an uploaded label straight onto its final name and rewrites the index
(``datastore_v2.json``) in place: a crash mid-write leaves a truncated label or index. Here both are written to a
temporary file in the same folder, flushed to disk and renamed over the old one (atomic on POSIX and Windows),
so a reader or a crash only ever sees the old or the complete new file. Image ids and label tags are checked to
be plain names, so ``../`` in a request cannot reach outside the studies folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from typing import Any, Dict

from filelock import FileLock
from monailabel.datastore.local import DataModel, ImageLabelModel, LocalDatastore
from monailabel.interfaces.exception import ImageNotFoundException, LabelNotFoundException

from ..fileio import atomic_copy, atomic_write, is_temporary, replace_atomically

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[^/\\\x00]+$")


class DatastoreInputError(ValueError):
    """An image id / label tag that is not a plain name (answered with HTTP 400)."""


MAX_NAME_BYTES = 200   # file names are limited to 255 bytes and the extension is appended


def check_name(value: str, what: str) -> str:
    if isinstance(value, str) and len(value.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        raise DatastoreInputError(f"invalid {what}: too long ({len(value)} characters; max {MAX_NAME_BYTES} bytes)")
    if not isinstance(value, str) or not value or value in (".", "..") or not _NAME.match(value) \
            or value != value.strip():
        raise DatastoreInputError(f"invalid {what} {value!r}: use a plain name (no '/', '\\' or '..')")
    return value


def check_upload(path: str, what: str, image_path: str | None = None) -> None:
    """Refuse an uploaded image / label that is unreadable, truncated, absurdly large or not 3D, and a label whose
    geometry differs from its image (header checks only). Raises VolumeError (HTTP 422) naming the upload."""
    import numpy as np

    from ..data.volume import VolumeError, read_header

    try:
        size, affine = read_header(path, kind=what)
        if image_path is not None:
            image_size, image_affine = read_header(image_path)
            if size != image_size:
                raise VolumeError(f"{path}: {what} size {size} does not match its image (size {image_size})")
            if not np.allclose(affine, image_affine, atol=1e-2):
                spacing, image_spacing = (np.linalg.norm(a[:3, :3], axis=0).round(4).tolist()
                                          for a in (affine, image_affine))
                raise VolumeError(f"{path}: {what} geometry does not match its image: spacing {spacing} vs "
                                  f"{image_spacing} mm, or origin / direction differ")
    except VolumeError as exc:
        raise VolumeError(str(exc).replace(path, f"uploaded {what}", 1)) from None


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


class AtomicLocalDatastore(LocalDatastore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        """Temp files of writes cut short by a crash (``.<name>.<random>.part``). Every write holds the datastore
        lock while its temp file exists, so under the lock any such file is stale."""
        folders = [self._datastore_path, self._datastore.image_path(), self._datastore.label_path(None)]
        labels = self._datastore.label_path(None)
        folders += [os.path.join(labels, d) for d in os.listdir(labels) if os.path.isdir(os.path.join(labels, d))]
        with FileLock(self._lock_file):
            for folder in dict.fromkeys(folders):
                for name in os.listdir(folder):
                    if is_temporary(name):
                        log.warning("removing %s (left by an interrupted write)", os.path.join(folder, name))
                        os.unlink(os.path.join(folder, name))

    def get_dataset_archive(self, limit_cases: int | None) -> str:
        """The ``GET /datastore/dataset`` ZIP. Stock MONAI Label asserts (HTTP 500) when no image has a final label
        and leaves a new temp file per download in the system temp folder; here: 404, and one archive per datastore
        (replaced atomically, so a download in progress keeps reading the previous one)."""
        if not self.datalist():
            raise LabelNotFoundException("no labelled cases to export yet (save a final label first)")
        built = super().get_dataset_archive(limit_cases)
        key = hashlib.sha256(os.path.realpath(self._datastore_path).encode()).hexdigest()[:16]
        dest = os.path.join(os.path.dirname(built), f"medpclip_dataset_{key}.zip")
        replace_atomically(built, dest)
        return dest

    def add_image(self, image_id: str, image_filename: str, image_info: Dict[str, Any]) -> str:
        id_, image_ext = self._to_id(os.path.basename(image_filename))
        image_id = check_name(image_id or id_, "image id")
        name = self._filename(image_id, image_ext)
        folder = self._datastore.image_path()
        dest = os.path.join(folder, name)
        if not _inside(dest, folder):
            raise DatastoreInputError(f"invalid image id {image_id!r}")
        check_upload(image_filename, "image")
        with FileLock(self._lock_file):
            atomic_copy(image_filename, dest)
            image_info = dict(image_info or {})
            image_info.update(ts=int(time.time()), name=name)
            self._datastore.objects[image_id] = ImageLabelModel(image=DataModel(info=image_info, ext=image_ext))
            self._update_datastore_file(lock=False)
        return image_id

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: Dict[str, Any]) -> str:
        check_name(image_id, "image id")
        check_name(label_tag, "label tag")
        obj = self._datastore.objects.get(image_id)
        if not obj:
            raise ImageNotFoundException(f"Image {image_id} not found")
        _, label_ext = self._to_id(os.path.basename(label_filename))
        label_path = self._datastore.label_path(label_tag)
        name = self._filename(image_id, label_ext)
        dest = os.path.join(label_path, name)
        if not _inside(dest, self._datastore.label_path(None)):
            raise DatastoreInputError(f"invalid label tag {label_tag!r}")
        check_upload(label_filename, "label map", self.get_image_uri(image_id))
        with FileLock(self._lock_file):
            os.makedirs(label_path, exist_ok=True)
            atomic_copy(label_filename, dest)
            previous = obj.labels.get(label_tag)
            label_info = dict(label_info or {})
            label_info.update(ts=int(time.time()), name=name)
            obj.labels[label_tag] = DataModel(info=label_info, ext=label_ext)
            self._update_datastore_file(lock=False)
            if previous is not None and previous.ext != label_ext:  # same label saved in another format
                old = os.path.join(label_path, self._filename(image_id, previous.ext))
                if os.path.isfile(old):
                    os.unlink(old)
        log.info("saved label %s [%s] -> %s", image_id, label_tag, dest)
        return image_id

    def remove_label(self, label_id: str, label_tag: str) -> None:
        check_name(label_id, "label id")
        check_name(label_tag, "label tag")
        super().remove_label(label_id, label_tag)

    def _update_datastore_file(self, lock=True):
        def write():
            self._ignore_event_config = True
            text = json.dumps(self._datastore.model_dump(exclude={"base_path"}), indent=2, default=str)
            atomic_write(self._datastore_config_path, text)
            self._config_ts = os.stat(self._datastore_config_path).st_mtime

        if lock:
            with FileLock(self._lock_file):
                write()
        else:
            write()
