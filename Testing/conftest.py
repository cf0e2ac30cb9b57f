"""Shared fixtures: the bundled sample data, the default checkpoint, one engine per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "Resources" / "SampleData"
CT_CASE = SAMPLES / "totalseg_ct_abdomen"
LIVER = 5


def pytest_configure(config):
    os.environ.setdefault("MEDPCLIP_CACHE", str(REPO / ".pytest_cache" / "medpclip"))


@pytest.fixture(scope="session")
def ct_image_path() -> Path:
    return CT_CASE / "image.nii.gz"


@pytest.fixture(scope="session")
def ct_label_path() -> Path:
    return CT_CASE / "label.nii.gz"


@pytest.fixture(scope="session")
def ct_labels() -> dict[int, str]:
    return {int(k): v for k, v in json.loads((CT_CASE / "labels.json").read_text()).items()}


@pytest.fixture(scope="session")
def engine():
    from medpclip.engine import Engine

    return Engine.from_checkpoint(threads=2)


@pytest.fixture(scope="session")
def ct_volume(ct_image_path):
    from medpclip.data.volume import read_image

    return read_image(ct_image_path)


@pytest.fixture(scope="session")
def ct_reference(ct_label_path, ct_volume) -> np.ndarray:
    from medpclip.data.volume import read_label

    return read_label(ct_label_path, like=ct_volume).array


@pytest.fixture(scope="session")
def liver_click(ct_reference) -> list[float]:
    """ijk of the deepest liver point on its largest axial slice."""
    from medpclip.data.masks import max_edt_point

    liver = ct_reference == LIVER
    k = int(np.argmax(liver.sum(axis=(1, 2))))
    r, c = max_edt_point(liver[k])
    return [float(c), float(r), float(k)]
