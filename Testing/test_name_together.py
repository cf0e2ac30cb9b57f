"""Naming the segments of one segmentation together (``Session.identify_together``, ``medpclip identify
--together``): a different name each, chosen to maximise the product of the names' probabilities. The MONAI Label
task and the Slicer logic are tested in their own files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medpclip.data.volume import read_image, read_label
from medpclip.errors import PromptError

from conftest import REPO
from test_cli import ok_json, one_line_error, run

HELD_OUT = REPO / "Resources" / "SampleData" / "heldout_patients" / "btcv_ABD_030_105"


@pytest.fixture(scope="module")
def held_out(engine):
    """A slice of a BTCV patient the checkpoint never saw: session, label map, its values and names."""
    volume = read_image(HELD_OUT / "image.nii.gz", modality="CT")
    labels = read_label(HELD_OUT / "label.nii.gz", like=volume).array
    names = {int(k): v for k, v in json.loads((HELD_OUT / "labels.json").read_text()).items()}
    values = sorted(int(v) for v in np.unique(labels) if v)
    return engine.open(volume), labels, values, names


def test_named_together_each_segment_gets_a_different_name_and_no_fewer_are_right(held_out):
    from medpclip.data.vocabulary import resolve

    session, labels, values, names = held_out
    vocabulary = [names[v] for v in values]
    together = session.identify_together([labels == v for v in values], vocabulary, top_k=3)
    assert len({c["id"] for c in together}) == len(values), "two segments got the same name"
    truth = [resolve(names[v]).id for v in values]
    alone = [session.identify(mask=labels == v, vocabulary=vocabulary, top_k=1)[0] for v in values]
    assert [c["alone"] for c in together] == [a["name"] for a in alone]
    assert all(len(c["ranking"]) == 3 and 0 < c["score"] <= 1 for c in together)
    right_together = sum(c["id"] == t for c, t in zip(together, truth))
    right_alone = sum(a["id"] == t for a, t in zip(alone, truth))
    # measured: 9 of 9 together, 8 of 9 alone (the stomach is "pancreas" alone, and the pancreas is too)
    assert right_together >= right_alone and right_together >= len(values) - 1, (right_together, right_alone)


def test_more_segments_than_names_keep_their_own_best_for_the_rest(held_out):
    session, labels, values, names = held_out
    together = session.identify_together([labels == v for v in values[:3]], [names[values[0]], names[values[1]]], 1)
    assert len(together) == 3 and len({c["id"] for c in together[:3]}) >= 2


def test_bad_regions_are_clear_errors(held_out):
    session, labels, values, _ = held_out
    with pytest.raises(PromptError, match="no regions"):
        session.identify_together([])
    with pytest.raises(PromptError, match="region 2 of 2 is empty"):
        session.identify_together([labels == values[0], np.zeros_like(labels, bool)])


def test_cli_identify_together_and_its_misuse(tmp_path):
    image, mask = HELD_OUT / "image.nii.gz", HELD_OUT / "label.nii.gz"
    out = ok_json(run("identify", image, "--mask", mask, "--together", "--vocabulary", HELD_OUT / "labels.json",
                      "--modality", "CT", "--json"))
    values = [s["value"] for s in out["segments"]]
    assert values == sorted(values) and len(values) == 9
    assert len({s["id"] for s in out["segments"]}) == 9 and all("alone" in s and s["code"] for s in out["segments"])
    one_line_error(run("identify", image, "--mask", mask, "--together", "--label-value", "3"), "--together")
    one_line_error(run("identify", image, "--point", "10,10,0", "--together"), "--together")
    empty = tmp_path / "empty.nii.gz"
    import SimpleITK as sitk

    reference = sitk.ReadImage(str(mask))
    blank = sitk.GetImageFromArray(np.zeros(sitk.GetArrayFromImage(reference).shape, np.uint8))
    blank.CopyInformation(reference)
    sitk.WriteImage(blank, str(empty))
    one_line_error(run("identify", image, "--mask", empty, "--together"), "empty")


def test_naming_precomputed_embeddings_together_is_naming_the_masks_together(held_out):
    from medpclip.engine.recognition import name_embeddings_together

    session, labels, values, names = held_out
    vocabulary = [names[v] for v in values]
    masks = [labels == v for v in values]
    regions = [session.region_embedding(mask=m) for m in masks]
    from_embeddings = session.engine.worker.call(name_embeddings_together, session, regions, vocabulary, 3)
    assert from_embeddings == session.identify_together(masks, vocabulary, top_k=3)
    with pytest.raises(PromptError, match="no regions"):
        name_embeddings_together(session, [], vocabulary, 1)


def test_the_benchmark_embeds_each_items_mask_once(tmp_path, monkeypatch):
    """Naming an item alone (by mask) and with its slice's other items use one embedding of its mask: the
    benchmark's items on a held-out slice, counted, with the named-together result still reported."""
    from medpclip.cli import main
    from medpclip.engine.session import Session

    calls = []
    original = Session.region_embedding

    def counted(self, mask=None, prompt=None, *args, **kwargs):
        if mask is not None:
            calls.append(1)
        return original(self, mask, prompt, *args, **kwargs)

    monkeypatch.setattr(Session, "region_embedding", counted)
    out = tmp_path / "bench"
    rc = main(["benchmark", "--data", str(HELD_OUT), "--max-slices-per-case", "1", "--max-trials", "3", "--clicks", "1",
                         "--no-3d", "--methods", "medpclip", "--threads", "1", "--overlays", "0", "--sam-repeats", "0",
                         "--first", "click", "--out", str(out)])
    assert rc == 0
    trials = json.loads((out / "results.json").read_text())["trials_2d"]
    assert len(trials) == 3 and all("top1_together" in t and "top1" in t for t in trials)
    assert len(calls) == len(trials)
