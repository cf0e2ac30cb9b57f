"""Shared fixtures: the bundled sample data, the default checkpoint, one engine per test session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
# torch's optimisers import torch._dynamo, which loads triton and its LLVM; Mesa's llvmpipe (the web tests' EGL
# rendering) brings another LLVM, and triton loaded after it crashes the process (seen: test_training after
# test_web). Loading it first, once, keeps any test order safe.
import torch._dynamo  # noqa: E402,F401

from helpers import free_port, stop_process

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


def deepest_click(reference: np.ndarray, value: int) -> list[float]:
    """ijk of the deepest point of structure ``value`` of a [k, j, i] label map, on its largest axial slice."""
    from medpclip.data.masks import max_edt_point

    structure = reference == value
    k = int(np.argmax(structure.sum(axis=(1, 2))))
    r, c = max_edt_point(structure[k])
    return [float(c), float(r), float(k)]


@pytest.fixture(scope="session")
def liver_click(ct_reference) -> list[float]:
    """ijk of the deepest liver point on its largest axial slice."""
    return deepest_click(ct_reference, LIVER)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real MONAI Label server running the medpclip app (``medpclip serve``), started once for the tests that
    talk to one (the Slicer logic's and the web page's remote backend)."""
    from medpclip.model.checkpoint import default_checkpoint_path

    studies = tmp_path_factory.mktemp("studies")
    port = free_port()
    log_path = studies.parent / "medpclip_serve.log"
    exe = shutil.which("medpclip", path=str(Path(sys.executable).parent)) or shutil.which("medpclip")
    has_serve = exe is not None and subprocess.run([exe, "serve", "--help"], capture_output=True).returncode == 0
    # `medpclip serve` (the documented command); `python -m medpclip.monailabel.serve` is the same entry point
    base = [exe, "serve"] if has_serve else [sys.executable, "-m", "medpclip.monailabel.serve"]
    cmd = base + ["--studies", str(studies), "--port", str(port), "--checkpoint", str(default_checkpoint_path()),
                  "--app-dir", str(studies.parent / "app"), "--conf", "threads", "1",
                  "--conf", "use_finetuned", "false"]
    env = dict(os.environ, MEDPCLIP_THREADS="1", OMP_NUM_THREADS="1")
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    try:
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"the MONAI Label server exited ({proc.returncode}): {' '.join(cmd)}\n"
                            + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(url + "/info/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail("the MONAI Label server did not answer /info/ within 300 s\n" + log_path.read_text()[-3000:])
            time.sleep(1.0)
        yield url
    finally:
        stop_process(proc, 30)
        log.close()
