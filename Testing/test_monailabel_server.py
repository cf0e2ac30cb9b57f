"""The MONAI Label app over real HTTP: a real `monailabel start_server` child process on a free loopback port,
serving a temporary copy of sample studies, talked to with `requests` exactly as the Slicer plugin does.

Covers /info, the three infer tasks (incl. the Slicer plugin's deepgrow request with an interleaved, unsorted
ROI), the datastore label round trip, both active-learning strategies, a short /train run that publishes weights
the next /infer uses, bad requests (4xx with a readable message, server still up) and /info latency while an
inference runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import CT_CASE, LIVER, REPO, SAMPLES

requests = pytest.importorskip("requests")
pytest.importorskip("monailabel")
from requests_toolbelt.multipart.decoder import MultipartDecoder  # noqa: E402  (a monailabel dependency)

CT = "totalseg_ct_abdomen"
MR = "totalseg_mr_abdomen"
MR_CASE = SAMPLES / MR
STUDIES = [CT, MR, "radiomics_breast1"]
TRAINED_STEPS = 1500   # below this the checkpoint is a development one: no Dice threshold, geometry only


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from medpclip.monailabel.serve import LocalServer

    srv = LocalServer.for_samples(tmp_path_factory.mktemp("monailabel"), STUDIES)
    try:
        srv.start(timeout=150)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ct_ref():
    """(reference label [k, j, i], sitk image, liver click ijk on its largest slice)."""
    from medpclip.data.masks import max_edt_point

    img = sitk.ReadImage(str(CT_CASE / "image.nii.gz"))
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(CT_CASE / "label.nii.gz")))
    liver = ref == LIVER
    k = int(np.argmax(liver.sum(axis=(1, 2))))
    r, c = max_edt_point(liver[k])
    return ref, img, [int(c), int(r), k]


def infer(server, model, params, image=CT, files=None, timeout=120):
    data = {"params": params if isinstance(params, str) else json.dumps(params)}
    return requests.post(f"{server.url}/infer/{model}", params={"image": image} if image else None, data=data,
                         files=files, timeout=timeout)


def parts(resp, tmp_path, suffix):
    """-> (params dict, label file path) of a multipart /infer answer."""
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["content-type"].startswith("multipart/form-data"), resp.headers["content-type"]
    params, path = None, None
    for part in MultipartDecoder.from_response(resp).parts:
        disp = part.headers[b"Content-Disposition"].decode()
        if 'name="params"' in disp:
            params = json.loads(part.content)
        elif 'name="image"' in disp:
            path = tmp_path / f"result{suffix}"
            path.write_bytes(part.content)
    assert params is not None and path is not None
    return params, path


def same_geometry(path: Path, ref: sitk.Image) -> sitk.Image:
    out = sitk.ReadImage(str(path))
    assert out.GetSize() == ref.GetSize()
    assert np.allclose(out.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    assert np.allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    assert np.allclose(out.GetDirection(), ref.GetDirection(), atol=1e-5)
    return out


def dice(a, b) -> float:
    a, b = a > 0, b > 0
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def info(server, timeout=10):
    r = requests.get(f"{server.url}/info/", timeout=timeout)
    assert r.status_code == 200
    return r.json()


def readable_4xx(resp, status, needle):
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and needle.lower() in detail.lower(), detail
    assert "Traceback" not in detail


# -- tests ---------------------------------------------------------------------------------------------
def test_info_lists_tasks_with_types(server):
    meta = info(server)
    models = meta["models"]
    assert models["medpclip_interactive"]["type"] == "deepgrow"          # shown in Slicer's SmartEdit
    assert models["medpclip_interactive"]["dimension"] == 3
    assert models["medpclip_identify"]["type"] == "classification"
    assert models["medpclip_find"]["type"] == "segmentation"
    labels = models["medpclip_interactive"]["labels"]                # the Slicer plugin's label list (issue 13)
    assert len(labels) >= 150 and {"liver", "aorta"} <= set(labels) and sorted(labels.values())[0] == 1
    assert "medpclip_finetune" in meta["trainers"]
    assert {"random", "first"} <= set(meta["strategies"])
    assert meta["datastore"]["total"] == len(STUDIES)
    assert meta["train_stats"]["medpclip_finetune"]["published"] is False


def test_slicer_plugin_deepgrow_request(server, ct_ref, tmp_path):
    """The request exactly as the MONAI Label Slicer plugin sends it (config values, segment name, ROI corners
    interleaved and unsorted, .nrrd result)."""
    ref, img, (i, j, k) = ct_ref
    ys, xs = np.nonzero(ref[k] == LIVER)
    roi = [int(xs.max()) + 3, int(xs.min()) - 3, int(ys.max()) + 3, int(ys.min()) - 3, k + 2, k - 2]  # max first
    params = {"label": "liver", "foreground": [[i, j, k]], "background": [], "roi": roi,
              "mode": "auto", "identify": True, "top_k": 5,                 # the task's config, as the plugin echoes it
              "result_extension": ".nrrd", "result_dtype": "uint8", "client_id": "user-xyz"}
    out, path = parts(infer(server, "medpclip_interactive", params), tmp_path, ".nrrd")
    mask = sitk.GetArrayFromImage(same_geometry(path, img))
    assert out["mode"] == "3d" and out["label_names"] == {"liver": 1}
    assert 0 <= out["score"] <= 1 and out["voxels"] == int((mask > 0).sum()) > 0
    assert len(out["identification"]) == 5 and all({"name", "id", "score"} <= set(x) for x in out["identification"])
    assert {"total_ms", "task_ms", "session_ms"} <= set(out["latency_ms"])
    # where and why each direction of the propagation ended (the plugin shows the warnings)
    assert isinstance(out["warnings"], list)
    assert {p["direction"] for p in out["propagation"]} == {"superior", "inferior"}
    assert all(p["reason"] for p in out["propagation"])
    # the unsorted ROI bounds the result: every voxel inside the sorted box
    kk, jj, ii = np.nonzero(mask)
    assert ii.min() >= min(roi[:2]) - 1 and ii.max() <= max(roi[:2]) + 1
    assert jj.min() >= min(roi[2:4]) - 1 and jj.max() <= max(roi[2:4]) + 1
    assert kk.min() >= min(roi[4:]) and kk.max() <= max(roi[4:])
    if (out["weights"].get("steps") or 0) >= TRAINED_STEPS:
        d = dice(mask[k], ref[k] == LIVER)
        assert d > 0.5, f"liver Dice on the prompted slice {d:.3f}"


def test_2d_click_is_cached_and_keeps_geometry(server, ct_ref, tmp_path):
    ref, img, (i, j, k) = ct_ref
    first, _ = parts(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]], "slice": k}), tmp_path, ".nii.gz")
    out, path = parts(infer(server, "medpclip_interactive", {"foreground": [[i, j, k], [i + 2, j, k]], "slice": k}),
                      tmp_path, ".nii.gz")
    mask = sitk.GetArrayFromImage(same_geometry(path, img))
    assert out["mode"] == "2d" and out["slice"] == k
    assert out["session_cached"] is True and out["latency_ms"]["trunk_cached"] == 1.0
    assert set(np.nonzero(mask)[0]) <= {k}
    assert out["voxels"] == int(mask.sum())
    if (out["weights"].get("steps") or 0) >= TRAINED_STEPS:
        assert dice(mask[k], ref[k] == LIVER) > 0.5


def test_a_clicks_other_answer_over_http(server, ct_ref, tmp_path):
    """The prompt key ``alternative`` passes through the interactive task (as JSON number or as the Slicer plugin's
    text) and comes back in the answer's params with how many answers there are; /info lists it; a bad one is a
    422 with the engine's message."""
    _, img, (i, j, k) = ct_ref
    first, first_path = parts(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]], "slice": k,
                                                                      "identify": False}), tmp_path, ".nii.gz")
    other, other_path = parts(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]], "slice": k,
                                                                      "alternative": "1", "identify": False}),
                              tmp_path, "_other.nii.gz")
    assert (first["alternative"], first["alternatives"]) == (0, 3) and other["alternative"] == 1
    a, b = (sitk.GetArrayFromImage(same_geometry(p, img)) for p in (first_path, other_path))
    assert a.any() and b.any() and not np.array_equal(a, b)
    assert "alternative" in info(server)["models"]["medpclip_interactive"]["prompts"]
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]], "slice": k, "alternative": 5}),
                 422, "alternative 5: this model gives a click 3 answers")
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[i, j, k], [i + 3, j, k]], "slice": k,
                                                         "alternative": 1}), 422, "one positive click alone")


def test_prompt_contract_in_ras_matches_ijk(server, ct_ref, tmp_path):
    from medpclip.data.geometry import from_ijk
    from medpclip.data.volume import read_image

    _, _, (i, j, k) = ct_ref
    ras = from_ijk(np.array([[i, j, k]], float), "ras", read_image(CT_CASE / "image.nii.gz").affine).tolist()
    a, pa = parts(infer(server, "medpclip_interactive", {"space": "ijk", "points": [[i, j, k]], "mode": "2d",
                                                           "identify": False}), tmp_path, ".nii.gz")
    ma = sitk.GetArrayFromImage(sitk.ReadImage(str(pa)))
    b, pb = parts(infer(server, "medpclip_interactive", {"space": "ras", "points": ras, "point_labels": [1],
                                                           "mode": "2d", "identify": False}), tmp_path, ".nii.gz")
    mb = sitk.GetArrayFromImage(sitk.ReadImage(str(pb)))
    assert a["identification"] == [] and np.array_equal(ma, mb)


def test_prior_mask_upload(server, ct_ref, tmp_path):
    ref, img, (i, j, k) = ct_ref
    prior = tmp_path / "prior.nii.gz"
    lab = sitk.GetImageFromArray((ref == LIVER).astype(np.uint8))
    lab.CopyInformation(img)
    sitk.WriteImage(lab, str(prior))
    with open(prior, "rb") as f:
        r = infer(server, "medpclip_interactive", {"label": "liver", "foreground": [[i, j, k]], "slice": k},
                  files={"label": ("prior.nii.gz", f)})
    out, path = parts(r, tmp_path, ".nii.gz")
    same_geometry(path, img)
    assert out["label_names"] == {"liver": 1} and out["slice"] == k


def test_strokes_label_map_and_lasso(server, ct_ref, tmp_path):
    """Issue 14: the uploaded label file as a strokes map (``label_kind`` strokes), a lasso in the JSON, /info's
    prompt types, and a bad ``label_kind`` (422, nothing run)."""
    from scipy import ndimage

    ref, img, (i, j, k) = ct_ref
    liver = ref == LIVER
    inner = ndimage.binary_erosion(liver[k], iterations=3)
    cols = np.flatnonzero(inner[j])
    strokes = np.zeros(ref.shape, np.uint8)
    strokes[k, j, cols.min():cols.max() + 1] = 1
    s_img = sitk.GetImageFromArray(strokes)
    s_img.CopyInformation(img)
    sitk.WriteImage(s_img, str(tmp_path / "strokes.nii.gz"))
    with open(tmp_path / "strokes.nii.gz", "rb") as f:
        r = infer(server, "medpclip_interactive", {"label_kind": "strokes", "mode": "2d", "identify": False},
                  files={"label": ("strokes.nii.gz", f)})
    out, path = parts(r, tmp_path, ".nii.gz")
    mask = sitk.GetArrayFromImage(same_geometry(path, img))
    assert out["slice"] == k and dice(mask[k], liver[k]) >= 0.45
    grown = ndimage.binary_dilation(liver[k], iterations=2)
    edge = np.argwhere(grown & ~ndimage.binary_erosion(grown))
    cy, cx = edge.mean(0)
    edge = edge[np.argsort(np.arctan2(edge[:, 0] - cy, edge[:, 1] - cx))][::4]
    out, path = parts(infer(server, "medpclip_interactive", {"lasso": [[int(c), int(r_), k] for r_, c in edge],
                                                                "identify": False}), tmp_path, ".nii.gz")
    assert dice(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[k], liver[k]) >= 0.8
    with open(tmp_path / "strokes.nii.gz", "rb") as f:
        readable_4xx(infer(server, "medpclip_interactive", {"label_kind": "paint"}, files={"label": ("s.nii.gz", f)}),
                     422, "label_kind")
    prompts = info(server)["models"]["medpclip_interactive"]["prompts"]
    assert {"scribbles", "strokes_label_map", "lasso", "points", "box"} <= set(prompts)


def test_identify_returns_json_only(server, ct_ref, tmp_path):
    ref, img, (i, j, k) = ct_ref
    r = infer(server, "medpclip_identify", {"foreground": [[i, j, k]], "top_k": 3})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text[:300]
    body = r.json()
    assert body["source"] == "prompt" and len(body["identification"]) == 3
    scores = [x["score"] for x in body["identification"]]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-6
    with open(CT_CASE / "label.nii.gz", "rb") as f:
        r = infer(server, "medpclip_identify", {"label_value": LIVER}, files={"label": ("label.nii.gz", f)})
    body = r.json()
    assert r.status_code == 200 and body["source"] == "mask" and body["top"] == body["identification"][0]["name"]
    if (body["weights"].get("steps") or 0) >= TRAINED_STEPS:
        assert "liver" in [x["id"] for x in body["identification"][:3]]


def test_identify_together_names_each_label_value_differently(server, ct_ref, tmp_path):
    ref, img, _ = ct_ref
    organs = np.where(np.isin(ref, (1, 2, 3, 5, 6)), ref, 0).astype(np.uint8)  # spleen, kidneys, liver, stomach
    label = sitk.GetImageFromArray(organs)
    label.CopyInformation(img)
    sitk.WriteImage(label, str(tmp_path / "organs.nii.gz"))
    with open(tmp_path / "organs.nii.gz", "rb") as f:
        r = infer(server, "medpclip_identify", {"together": "true", "top_k": 2}, files={"label": ("organs.nii.gz", f)})
    assert r.status_code == 200, r.text[:300]
    segments = r.json()["segments"]
    assert [s["value"] for s in segments] == [1, 2, 3, 5, 6]
    assert len({s["id"] for s in segments}) == len(segments) and all(len(s["ranking"]) == 2 for s in segments)
    assert "together" in info(server)["models"]["medpclip_identify"]["prompts"]
    readable_4xx(infer(server, "medpclip_identify", {"together": True}), 422, "upload")


def test_find_by_text(server, ct_ref, tmp_path):
    _, img, _ = ct_ref
    out, path = parts(infer(server, "medpclip_find", {"text": "liver", "mode": "2d"}), tmp_path, ".nii.gz")
    mask = sitk.GetArrayFromImage(same_geometry(path, img))
    assert out["text"] == "liver" and out["label_names"] == {"liver": 1} and out["voxels"] == int(mask.sum())
    assert out["found"]["found"] is True
    out, path = parts(infer(server, "medpclip_find", {"text": "brain", "mode": "2d"}), tmp_path, ".nii.gz")
    assert out["found"]["found"] is False and out["voxels"] == 0 and "not found" in out["warnings"][0]
    readable_4xx(infer(server, "medpclip_find", {}), 422, "text")


def test_datastore_label_round_trip(server, tmp_path):
    src = CT_CASE / "label.nii.gz"
    label_info = [{"name": "liver", "idx": LIVER}, {"name": "spleen", "idx": 1}]
    with open(src, "rb") as f:
        r = requests.put(f"{server.url}/datastore/label", params={"image": CT, "tag": "final"},
                         data={"params": json.dumps({"label_info": label_info})},
                         files={"label": ("label.nii.gz", f)}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(f"{server.url}/datastore/label", params={"label": CT, "tag": "final"}, timeout=30)
    assert r.status_code == 200 and r.content == src.read_bytes()
    r = requests.get(f"{server.url}/datastore/label/info", params={"label": CT, "tag": "final"}, timeout=30)
    assert r.json()["label_info"] == label_info
    stored = server.studies / "labels" / "final" / f"{CT}.nii.gz"
    assert stored.read_bytes() == src.read_bytes()
    assert not list(server.studies.rglob("*.part"))                      # no temp file left behind
    index = json.loads((server.studies / "datastore_v2.json").read_text())
    assert "final" in index["objects"][CT]["labels"]
    assert info(server)["datastore"]["completed"] == 1
    # the dataset export holds the image and its label; repeated downloads reuse one archive (stock MONAI Label
    # left a new temp file per download)
    before = set(Path(tempfile.gettempdir()).glob("medpclip_dataset_*.zip"))
    for _ in range(2):
        r = requests.get(f"{server.url}/datastore/dataset", timeout=60)
        assert r.status_code == 200, r.text[:300]
    archive = tmp_path / "dataset.zip"
    archive.write_bytes(r.content)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert z.read(f"label/{CT}.nii.gz") == src.read_bytes()
    assert f"image/{CT}.nii.gz" in names and "metadata.json" in names
    assert len(set(Path(tempfile.gettempdir()).glob("medpclip_dataset_*.zip")) - before) <= 1


def test_activelearning_strategies(server):
    # needs the CT's final label (saved by the previous test; saved again here so the test stands alone)
    with open(CT_CASE / "label.nii.gz", "rb") as f:
        requests.put(f"{server.url}/datastore/label", params={"image": CT, "tag": "final"},
                     data={"params": json.dumps({"label_info": [{"name": "liver", "idx": LIVER}]})},
                     files={"label": ("label.nii.gz", f)}, timeout=30).raise_for_status()
    unlabelled = sorted(set(STUDIES) - {CT})
    r = requests.post(f"{server.url}/activelearning/first", json={}, timeout=30)
    assert r.status_code == 200 and r.json()["id"] == unlabelled[0]
    for _ in range(3):
        r = requests.post(f"{server.url}/activelearning/random", json={}, timeout=30)
        assert r.status_code == 200 and r.json()["id"] in unlabelled
        assert Path(r.json()["path"]).name.startswith(r.json()["id"])


def test_bad_requests_answer_4xx_and_server_stays_up(server, ct_ref):
    _, _, (i, j, k) = ct_ref
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]]}, image="no_such_image"), 404,
                 "unknown image")
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]]}, image="../../etc/passwd"), 404,
                 "unknown image")
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[i, j, k]]},
                       image=str(CT_CASE / "image.nii.gz")), 404, "unknown image")   # no server paths
    readable_4xx(infer(server, "medpclip_interactive", '{"foreground": [[1, 2, 3]'), 400, "not valid JSON")
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": [[5000, j, k]]}), 422, "outside the image")
    readable_4xx(infer(server, "medpclip_interactive", {"foreground": "here"}), 422, "foreground")
    readable_4xx(infer(server, "medpclip_interactive", {}), 422, "no points")
    readable_4xx(infer(server, "no_such_model", {"foreground": [[i, j, k]]}), 404, "unknown model")
    readable_4xx(requests.post(f"{server.url}/activelearning/no_such_strategy", json={}, timeout=30), 404, "strategy")
    readable_4xx(requests.post(f"{server.url}/train/no_such_trainer", json={}, timeout=30), 404, "unknown trainer")
    with open(CT_CASE / "label.nii.gz", "rb") as f:
        readable_4xx(requests.put(f"{server.url}/datastore/label", params={"image": CT, "tag": "../../escape"},
                                  files={"label": ("label.nii.gz", f)}, timeout=30), 400, "label tag")
    with open(CT_CASE / "label.nii.gz", "rb") as f:
        readable_4xx(requests.put(f"{server.url}/datastore/label", params={"image": "nope", "tag": "final"},
                                  files={"label": ("label.nii.gz", f)}, timeout=30), 404, "not found")
    assert not (server.studies.parent / "escape").exists()
    assert server.alive() and info(server)["models"]


def test_info_answers_while_inference_runs(server):
    """A cold image (new session, every trunk to compute) keeps a worker busy for seconds; /info must not wait."""
    result = {}

    def run():
        t0 = time.perf_counter()
        result["resp"] = infer(server, "medpclip_find", {"text": "liver", "mode": "3d"}, image=MR, timeout=300)
        result["seconds"] = time.perf_counter() - t0

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    latencies = []
    while worker.is_alive():
        t0 = time.perf_counter()
        info(server, timeout=30)
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.1)
    worker.join()
    assert result["resp"].status_code == 200, result["resp"].text[:300]
    assert len(latencies) >= 3, f"inference too short to test ({result['seconds']:.2f} s)"
    assert max(latencies) < 1.0, f"/info took {max(latencies):.2f} s while an inference ran"


def run_training(server, options: dict) -> dict:
    """POST a fine-tune and wait for it; -> its stats (``/info``'s ``train_stats``), checking that /info stays quick."""
    r = requests.post(f"{server.url}/train/medpclip_finetune", json=options, timeout=30)
    assert r.status_code == 200, r.text
    deadline, stats, task = time.monotonic() + 300, {}, {}
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        stats = info(server)["train_stats"]["medpclip_finetune"]
        assert time.perf_counter() - t0 < 1.0                          # /info stays quick while training
        task = requests.get(f"{server.url}/train/", timeout=30).json()  # MONAI Label's view of the child process
        if task.get("status") in ("DONE", "ERROR", "STOPPED"):
            break
        time.sleep(1)
    assert stats.get("status") == "DONE" and task["status"] == "DONE", (stats, task.get("details", [])[-5:])
    return stats


def put_final_label(server, image: str, case_dir: Path, label_info: list[dict]) -> None:
    with open(case_dir / "label.nii.gz", "rb") as f:
        requests.put(f"{server.url}/datastore/label", params={"image": image, "tag": "final"},
                     data={"params": json.dumps({"label_info": label_info})},
                     files={"label": ("label.nii.gz", f)}, timeout=30).raise_for_status()


def test_train_publishes_weights_that_infer_uses(server, ct_ref):
    _, _, (i, j, k) = ct_ref
    put_final_label(server, CT, CT_CASE, [{"name": "liver", "idx": LIVER}, {"name": "spleen", "idx": 1}])
    before = infer(server, "medpclip_identify", {"foreground": [[i, j, k]]}).json()["weights"]
    assert before["finetuned"] is False
    # one labelled image: it is trained on and validated on (in-sample); "always" publishes whatever it scores
    stats = run_training(server, {"max_steps": 2, "batch_size": 2, "publish": "always"})
    assert stats["steps"] == 2 and stats["published"] is True and stats["served_new_weights"] is True
    assert stats["cases"][0]["used"] == {str(LIVER): "liver", "1": "spleen"} or \
        stats["cases"][0]["used"] == {LIVER: "liver", 1: "spleen"}
    assert stats["cases"][0]["role"] == "train and validation"
    validation = stats["validation"]
    assert validation["images"] == [CT] and validation["in_sample"] is True and validation["rule"] == "always"
    assert validation["unit"] == "in_sample"
    for which in ("served", "finetuned"):
        assert validation[which]["items"] > 0 and 0 <= validation[which]["score"] <= 1
    assert validation["decision"].startswith("published")
    published = Path(stats["published_path"])
    assert published.is_file() and published.parent == server.app_dir / "model"
    after = infer(server, "medpclip_identify", {"foreground": [[i, j, k]]}).json()["weights"]
    assert after["finetuned"] is True and after["path"] == str(published)
    assert after["generation"] > before["generation"]
    assert info(server)["medpclip"]["weights"]["finetuned"] is True


def test_train_keeps_the_served_weights_when_the_new_ones_score_lower(server, ct_ref):
    """Two labelled images: one is held back; a fine-tune that wrecks the model (a learning rate 5000x the default,
    every weight) scores lower on it than the served weights, so they stay served and the stats say why."""
    _, _, (i, j, k) = ct_ref
    put_final_label(server, CT, CT_CASE, [{"name": "liver", "idx": LIVER}, {"name": "spleen", "idx": 1}])
    mr_names = json.loads((MR_CASE / "labels.json").read_text())
    put_final_label(server, MR, MR_CASE, [{"name": n, "idx": int(v)} for v, n in mr_names.items()])
    served = infer(server, "medpclip_identify", {"foreground": [[i, j, k]]}).json()["weights"]
    published = server.app_dir / "model" / "medpclip_finetuned.safetensors"
    before = published.read_bytes() if published.is_file() else None
    for image, patient in ((CT, "ct-patient"), (MR, "mr-patient")):  # whose each image is: a patient-level check
        requests.put(f"{server.url}/datastore/image/info", params={"image": image},
                     data={"info": json.dumps({"patient": patient})}, timeout=30).raise_for_status()
    stats = run_training(server, {"max_steps": 3, "batch_size": 2, "lr": 0.5, "parts": "all"})
    validation = stats["validation"]
    assert sorted(c["role"] for c in stats["cases"] if "role" in c) == ["train", "validation"]
    assert len(validation["images"]) == 1 and validation["in_sample"] is False and validation["rule"] == "if_not_worse"
    assert validation["unit"] == "patient"
    assert {c["image"]: c["patient"] for c in stats["cases"] if "role" in c} == {CT: "ct-patient", MR: "mr-patient"}
    assert validation["finetuned"]["score"] < validation["served"]["score"]
    assert stats["served_new_weights"] is False and validation["decision"].startswith("kept the served weights")
    assert Path(stats["checkpoint"]).is_file()                     # the refused weights stay in the run folder
    assert (published.read_bytes() if published.is_file() else None) == before
    now = infer(server, "medpclip_identify", {"foreground": [[i, j, k]]}).json()["weights"]
    assert (now["path"], now["generation"]) == (served["path"], served["generation"])


def test_serve_command_prepares_sample_studies(tmp_path):
    env = {**os.environ, "MEDPCLIP_CACHE": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, "-m", "medpclip.monailabel.serve", "--dry-run", "--port", "8123"],
                       capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=REPO, env=env)
    assert p.returncode == 0, p.stderr
    cmd = p.stdout.strip()
    assert "-m monailabel.main start_server" in cmd and "--port 8123" in cmd and "--conf models medpclip" in cmd
    studies = tmp_path / "cache" / "monailabel" / "sample_studies"
    assert {x.name for x in studies.iterdir()} >= {f"{CT}.nii.gz", f"{MR}.nii.gz", "radiomics_brain1.nrrd"}
    assert (tmp_path / "cache" / "monailabel" / "app" / "main.py").read_text().count("MedPCLIPApp") == 1
    p = subprocess.run([sys.executable, "-m", "medpclip.monailabel.serve", "--studies", str(tmp_path / "missing")],
                       capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=REPO, env=env)
    assert p.returncode != 0 and "no such folder" in p.stderr and "Traceback" not in p.stderr
