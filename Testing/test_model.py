"""Model core: shapes, identity fusion at init, cached == uncached, checkpoints, CLIP import, refusals."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
import torch

from medpclip.model import CheckpointError, MedPCLIP, Prompts, get_config, load_checkpoint, new_checkpoint, save_checkpoint
from medpclip.model.checkpoint import load_clip_visual_state
from medpclip.model.region_geometry import N_FEATURES

S = 256


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MedPCLIP(get_config("tiny")).eval()


def _prompts(kind: str, b: int = 2) -> Prompts:
    pts = torch.tensor([[[60.0, 70.0], [100.0, 90.0]]]).repeat(b, 1, 1)
    lab = torch.tensor([[1, 0]]).repeat(b, 1)
    box = torch.tensor([[40.0, 50.0, 120.0, 140.0]]).repeat(b, 1)
    mask = torch.zeros(b, 1, S, S)
    mask[:, :, 50:140, 40:120] = 1
    prev = torch.randn(b, 1, S // 4, S // 4)
    return {
        "points": Prompts(pts, lab), "box": Prompts(boxes=box), "mask": Prompts(region_mask=mask),
        "points+box": Prompts(pts, lab, box), "box+mask": Prompts(boxes=box, region_mask=mask),
        "all": Prompts(pts, lab, box, mask, prev), "prev only": Prompts(prev_low_res=prev), "none": Prompts(),
    }[kind]


@pytest.mark.parametrize("kind", ["points", "box", "mask", "points+box", "box+mask", "all", "prev only", "none"])
def test_output_shapes(model, kind):
    cfg = model.cfg
    with torch.no_grad():
        out = model(torch.rand(2, 1, S, S), _prompts(kind))
    assert out.region_embedding.shape == (2, cfg.embed_dim)
    assert torch.allclose(out.region_embedding.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert out.masks.shape == (2, cfg.num_multimask + 1, S // 4, S // 4)
    assert out.iou.shape == (2, cfg.num_multimask + 1)


def test_mixed_batch_box_rows(model):
    """A NaN box row means 'no box' for that sample, and equals running it without a box."""
    img = torch.rand(2, 1, S, S)
    box = torch.tensor([[40.0, 50.0, 120.0, 140.0], [float("nan")] * 4])
    pts = torch.tensor([[[60.0, 70.0]], [[60.0, 70.0]]])
    lab = torch.ones(2, 1, dtype=torch.long)
    with torch.no_grad():
        mixed = model(img, Prompts(pts, lab, box))
        alone = model(img[1:], Prompts(pts[1:], lab[1:], torch.full((1, 4), float("nan"))))
    assert torch.allclose(mixed.masks[1], alone.masks[0], atol=1e-5)


def test_fusion_is_identity_at_init(model):
    img = torch.rand(2, 1, S, S)
    whole = torch.ones(2, 1, S, S)
    with torch.no_grad():
        plain = model.global_embedding(img)
        fused = model(img, Prompts(region_mask=whole)).region_embedding
        clicked = model(img, _prompts("points+box")).region_embedding
    assert torch.allclose(plain, fused, atol=1e-5)
    assert torch.allclose(plain, clicked, atol=1e-5)  # gates are 0 and the dense projection is 0 at init


def test_fusion_changes_output_once_trained(model):
    trained = MedPCLIP(model.cfg).eval()
    trained.load_state_dict(model.state_dict())
    with torch.no_grad():
        for f in trained.fusion:
            f.gate.fill_(1.0)
        torch.nn.init.normal_(trained.dense_prompt.proj.weight, std=0.02)
        img = torch.rand(1, 1, S, S)
        a = trained(img, _prompts("points", 1)).region_embedding
        b = trained(img, _prompts("box", 1)).region_embedding
    assert not torch.allclose(a, b, atol=1e-4)


def test_cached_path_equals_full_forward(model):
    img = torch.rand(2, 1, S, S)
    prompts = _prompts("all")
    with torch.no_grad():
        full = model(img, prompts)
        feats = model.encode_slices(img)
        cached = model.prompted(feats, prompts)
    assert torch.equal(full.masks, cached.masks)
    assert torch.equal(full.region_embedding, cached.region_embedding)


def test_checkpoint_round_trip_is_exact(tmp_path):
    ckpt = new_checkpoint("tiny", seed=3)
    ckpt.vocabulary = [{"id": "liver", "name": "liver"}]
    ckpt.text_features = torch.randn(1, 384)
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    a, b = ckpt.model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(loaded.text_features, ckpt.text_features)
    assert loaded.vocabulary == ckpt.vocabulary and loaded.trained is False
    assert len(loaded.sha256) == 64


def test_pickle_checkpoint_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    torch.save({"a": torch.zeros(1)}, tmp_path / "zip.pt")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(tmp_path / "zip.pt")
    assert not marker.exists()


def test_truncated_and_mismatched_checkpoints_are_refused(tmp_path):
    path = save_checkpoint(new_checkpoint("tiny"), tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_checkpoint(tmp_path / "cut.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="too short"):
        load_checkpoint(tmp_path / "empty.safetensors")
    # weights of one config under another config's name
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = meta["config"].replace('"width": 192', '"width": 96')
    save_file(tensors, str(tmp_path / "wrong.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "wrong.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_b16_loads_clip_visual_keys():
    """A state dict with OpenAI CLIP ViT-B/16 visual key names and shapes loads into the b16 config."""
    cfg = get_config("b16")
    model = MedPCLIP(cfg)
    w = 768
    raw = {"visual.conv1.weight": torch.randn(w, 3, 16, 16), "visual.class_embedding": torch.randn(w),
           "visual.positional_embedding": torch.randn(197, w), "visual.ln_pre.weight": torch.ones(w),
           "visual.ln_pre.bias": torch.zeros(w), "visual.ln_post.weight": torch.ones(w),
           "visual.ln_post.bias": torch.zeros(w), "visual.proj": torch.randn(w, 512),
           "transformer.resblocks.0.attn.in_proj_weight": torch.randn(3 * 512, 512)}  # text tower: skipped
    for i in range(12):
        p = f"visual.transformer.resblocks.{i}."
        raw.update({p + "ln_1.weight": torch.ones(w), p + "ln_1.bias": torch.zeros(w),
                    p + "attn.in_proj_weight": torch.randn(3 * w, w), p + "attn.in_proj_bias": torch.zeros(3 * w),
                    p + "attn.out_proj.weight": torch.randn(w, w), p + "attn.out_proj.bias": torch.zeros(w),
                    p + "ln_2.weight": torch.ones(w), p + "ln_2.bias": torch.zeros(w),
                    p + "mlp.c_fc.weight": torch.randn(4 * w, w), p + "mlp.c_fc.bias": torch.zeros(4 * w),
                    p + "mlp.c_proj.weight": torch.randn(w, 4 * w), p + "mlp.c_proj.bias": torch.zeros(w)})
    report = load_clip_visual_state(model, raw)
    assert report["skipped"] == ["transformer.resblocks.0.attn.in_proj_weight"]
    assert torch.allclose(model.visual.conv1.weight, raw["visual.conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.visual.transformer.resblocks[11].mlp.c_proj.weight,
                       raw["visual.transformer.resblocks.11.mlp.c_proj.weight"])
    assert torch.equal(model.visual.positional_embedding[0], raw["visual.positional_embedding"][0])
    bad = dict(raw)
    bad["visual.proj"] = torch.randn(w, 256)
    with pytest.raises(CheckpointError, match="shape"):
        load_clip_visual_state(MedPCLIP(cfg), bad)


def test_text_encoder_verifies_weights(tmp_path):
    import shutil

    from medpclip.model.text import TextEncoder, TextModelError, default_model_dir

    enc = TextEncoder()
    feats = enc.encode(["left kidney", "liver"])
    assert feats.shape == (2, 384)
    src = default_model_dir()
    fake = tmp_path / "model"
    shutil.copytree(src, fake)
    with open(fake / "model.safetensors", "r+b") as f:  # flip one byte deep inside the weights
        f.seek(200_000)
        byte = f.read(1)
        f.seek(200_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(TextModelError, match="SHA-256"):
        TextEncoder(fake)


def test_init_from_an_older_architecture_copies_matching_tensors(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from medpclip.model.checkpoint import load_matching_weights

    path = save_checkpoint(new_checkpoint("tiny", seed=5), tmp_path / "full.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if "region_pool" not in k}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    torch.manual_seed(123)
    model = MedPCLIP(get_config("tiny"))
    fresh = load_matching_weights(model, tmp_path / "old.safetensors")
    assert fresh and all("region_pool" in k for k in fresh)
    assert torch.equal(model.visual.conv1.weight, tensors["model.visual.conv1.weight"])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "old.safetensors")  # a strict load names the mismatch instead


def test_checkpoint_from_before_the_geometry_head_loads_and_names_as_before(tmp_path):
    """A checkpoint saved without ``region_geometry_head`` (every checkpoint before 2026-12-02) loads; the head
    keeps its zero output, so region embeddings are unchanged; any other missing tensor is still refused."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = save_checkpoint(new_checkpoint("tiny"), tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    old = {k: v for k, v in tensors.items() if not k.startswith("model.region_geometry_head.")}
    assert len(old) < len(tensors)
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    model = load_checkpoint(tmp_path / "old.safetensors").model
    assert not model.uses_geometry
    region = torch.nn.functional.normalize(torch.randn(3, model.cfg.embed_dim), dim=-1)
    assert torch.allclose(model.with_geometry(region, torch.randn(3, N_FEATURES)), region)
    del old["model.region_pool_proj.bias"]
    save_file(old, str(tmp_path / "broken.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="region_pool_proj.bias"):
        load_checkpoint(tmp_path / "broken.safetensors")


def test_geometry_head_reads_its_leading_figures_and_old_configs_read_fifteen(tmp_path):
    """A checkpoint whose config does not say how many region figures its geometry head reads (every checkpoint
    before 2026-12-05, session 31) loads with a 15-input head, as a fresh config does; the ring figures added since
    do not change such a head's output; a head made to read all of them does."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from medpclip.model.region_geometry import BASE_FEATURES

    ckpt = new_checkpoint("tiny")
    assert ckpt.model.cfg.geometry_features == BASE_FEATURES < N_FEATURES and not ckpt.model.reads_ring
    torch.nn.init.normal_(ckpt.model.region_geometry_head.net[2].weight)  # a trained (non-zero) head
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    del config["geometry_features"]
    meta["config"] = json.dumps(config)
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    model = load_checkpoint(tmp_path / "old.safetensors").model
    assert model.cfg.geometry_features == BASE_FEATURES and model.uses_geometry
    region = torch.nn.functional.normalize(torch.randn(2, model.cfg.embed_dim), dim=-1)
    geometry = torch.randn(2, N_FEATURES)
    other_ring = torch.cat([geometry[:, :BASE_FEATURES], torch.randn(2, N_FEATURES - BASE_FEATURES)], 1)
    named = model.with_geometry(region, geometry)
    assert not torch.allclose(named, region) and torch.equal(named, model.with_geometry(region, other_ring))
    ring = new_checkpoint(dataclasses.replace(model.cfg, geometry_features=N_FEATURES)).model
    torch.nn.init.normal_(ring.region_geometry_head.net[2].weight)
    assert ring.reads_ring and ring.region_geometry_head.net[0].in_features == N_FEATURES
    assert not torch.equal(ring.with_geometry(region, geometry), ring.with_geometry(region, other_ring))


def test_region_shape_figures_tell_a_ring_from_a_solid_region_at_any_scale():
    """Figures 19-20 (``shape``): the share of the filled outline that is hole and the share of the bounding box
    filled. A ring (oedema around a tumour core) has a large hole, a disc none; the same at half the size gives the
    same figures; without ``shape`` they are zero, and a head reading 19 figures ignores them."""
    from medpclip.model.region_geometry import RING_FEATURES, region_geometry

    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    image = ((((yy - 128) / 90) ** 2 + ((xx - 128) / 120) ** 2) < 1).float() * 0.4

    def disc(r: float, cy: int = 120, cx: int = 90) -> torch.Tensor:
        return ((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2

    ring, solid = disc(30) & ~disc(18), disc(30)
    g_ring, g_solid = region_geometry(image, ring, False, shape=True), region_geometry(image, solid, False, shape=True)
    assert RING_FEATURES == 19 and g_ring.shape == (N_FEATURES,) == (21,)
    assert 0.3 < g_ring[19] < 0.4 and g_solid[19] == 0            # hole: 18^2 / 30^2 = 0.36
    assert abs(float(g_solid[20]) - math.pi / 4) < 0.03 and g_ring[20] < g_solid[20]
    g_half = region_geometry(image, disc(15) & ~disc(9), False, shape=True)
    assert abs(float(g_half[19] - g_ring[19])) < 0.05 and abs(float(g_half[20] - g_ring[20])) < 0.05
    plain = region_geometry(image, ring, False)
    assert not plain[RING_FEATURES:].any() and torch.equal(plain[:RING_FEATURES], g_ring[:RING_FEATURES])
    assert not region_geometry(image, ring, False, ring=False, shape=True)[15:19].any()


def test_stroke_trained_checkpoint_from_before_the_stroke_path_reads_strokes_in_the_shared_map(tmp_path):
    """Checkpoints trained with painted strokes before the strokes had their own input path (no ``stroke_prompt``
    tensors, provenance ``dense_strokes``) load and keep reading strokes in the shared dense prompt map; one with
    the path reads them there; a checkpoint never trained with strokes loads with the path silent."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    ckpt = new_checkpoint("tiny")
    ckpt.provenance["dense_strokes"] = True
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    assert not load_checkpoint(path).model.strokes_in_prompt_map
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("model.stroke_prompt.")}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    assert load_checkpoint(tmp_path / "old.safetensors").model.strokes_in_prompt_map
    meta["provenance"] = json.dumps({"trained": False})
    save_file(tensors, str(tmp_path / "plain.safetensors"), metadata=meta)
    plain = load_checkpoint(tmp_path / "plain.safetensors").model
    assert not plain.strokes_in_prompt_map and not plain.stroke_prompt.proj.weight.any()


def test_region_geometry_says_where_the_region_lies_in_the_body():
    """Left / right and front / back of the body box, its size share, scale-free: the same body zoomed out to
    half its size in the view (zero padding around it) gives the same figures."""
    from torch.nn import functional as F

    from medpclip.model.region_geometry import body_frame, region_geometry

    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    body = (((yy - 128) / 90) ** 2 + ((xx - 128) / 120) ** 2) < 1
    image = body.float() * 0.4
    left = (((yy - 120) / 20) ** 2 + ((xx - 60) / 15) ** 2) < 1
    right = left.flip(1)
    image[left] = 0.8
    g_left, g_right = region_geometry(image, left, True), region_geometry(image, right, True)
    assert g_left.shape == (N_FEATURES,)
    assert g_left[0] < -0.5 and g_right[0] > 0.5 and abs(float(g_left[1])) < 0.2
    assert g_left[10] > 0.3 > float(g_right[10])           # brighter than the body on CT
    assert g_left[11] == 0 and region_geometry(image, left, False)[8] == 0   # CT and MR intensities kept apart
    small = F.pad(F.interpolate(image[None, None], scale_factor=0.5, mode="bilinear"), (64, 64, 64, 64))[0, 0]
    small_mask = F.pad(F.interpolate(left[None, None].float(), scale_factor=0.5), (64, 64, 64, 64))[0, 0] > 0.5
    g_small = region_geometry(small, small_mask, True)
    assert torch.allclose(g_small[:8], g_left[:8], atol=0.06), (g_small[:8], g_left[:8])
    # the ring around it: brighter than its surroundings, which are as bright as the body (CT figures 15-16);
    # without the ring (a head reading the first 15 figures) the same first 15 and zeros
    assert g_left[15] > 0.6 and abs(float(g_left[16])) < 0.05 and g_left[17] == g_left[18] == 0
    no_ring = region_geometry(image, left, True, ring=False)
    assert torch.equal(no_ring[:15], g_left[:15]) and not no_ring[15:].any()
    # (at half size the 2-pixel ring catches the resize's blended edge: 0.74 against 0.80)
    assert torch.allclose(g_small[15:], g_left[15:], atol=0.1), (g_small[15:], g_left[15:])
    assert not region_geometry(image, torch.zeros(S, S, dtype=torch.bool), True).any()
    frame = body_frame(image)  # the engine's per-slice cache: the same figures with the frame computed once
    assert 8 < frame.x0 < frame.x1 < 248 and frame.area == float(body.sum())
    for mask in (left, right, small_mask):
        assert torch.equal(region_geometry(image, mask, True, frame), region_geometry(image, mask, True))


def test_size_jitter_scales_only_the_size_figures_as_a_larger_region_would():
    """``jitter_region_size`` (the alignment's ``--size-jitter``): a region drawn twice as large (area x 4) moves
    its size figures as the jitter does for an area factor of 4 (within the drawing's rounding); position and
    intensity figures stay; an empty region stays zero; factor 1 is the identity; under 1 is an error."""
    from medpclip.model.region_geometry import jitter_region_size, region_geometry

    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    image = ((((yy - 128) / 100) ** 2 + ((xx - 128) / 110) ** 2) < 1).float() * 0.4
    small = (((yy - 110) / 10) ** 2 + ((xx - 90) / 14) ** 2) < 1
    large = (((yy - 110) / 20) ** 2 + ((xx - 90) / 28) ** 2) < 1
    image[large] = 0.7
    g = torch.stack([region_geometry(image, small, True), region_geometry(image, large, True),
                     torch.zeros(N_FEATURES)])
    ones = torch.Generator().manual_seed(0)
    assert torch.equal(jitter_region_size(g, 1.0, ones), g)
    draws = torch.stack([jitter_region_size(g, 4.0, torch.Generator().manual_seed(k)) for k in range(200)])
    size = [3, 4, 5, 6, 7]
    others = [i for i in range(N_FEATURES) if i not in size]
    assert torch.equal(draws[:, :, others], g[None, :, others].expand(200, -1, -1))
    assert not draws[:, 2].any()                                       # no region: no geometry
    log_area = (draws[:, 0, 5] - g[0, 5]) * 4                          # the drawn log area factor
    assert log_area.abs().max() <= float(torch.log(torch.tensor(4.0))) + 1e-5
    assert log_area.min() < -1.0 and log_area.max() > 1.0              # spread over the range, both ways
    sides = draws[:, 0, [3, 4, 6, 7]] / g[0, [3, 4, 6, 7]]
    assert torch.allclose(sides, torch.exp(log_area / 2)[:, None].expand(-1, 4), atol=1e-4)
    # what an area factor of 4 does is what drawing the region twice as large does
    near4 = draws[log_area.sub(float(torch.log(torch.tensor(4.0)))).abs().argmin(), 0]
    assert torch.allclose(near4[size], g[1, size], rtol=0.08, atol=0.02), (near4[size], g[1, size])
    with pytest.raises(ValueError, match="1 or more"):
        jitter_region_size(g, 0.5)


def test_click_choice_head_is_silent_until_fitted_then_picks_the_output_and_survives_a_round_trip(tmp_path):
    """An unfitted click choice head gives no scores (the IoU head's best answers a single click, as before); a
    fitted one decides which multimask output answers; its tensors are saved and loaded; a checkpoint without them
    loads with the head unfitted."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    ckpt = new_checkpoint("tiny")
    model = ckpt.model.eval()
    feats = model.encode_slices(torch.rand(1, 1, S, S))
    click = Prompts(torch.tensor([[[60.0, 70.0]]]), torch.tensor([[1]]))
    with torch.no_grad():
        out = model.prompted(feats, click)
        assert out.choice is None and not model.click_choice.fitted
        assert model.answer_index(out.iou[0], True) == int(out.iou[0, 1:].argmax()) + 1
        best_rated = int(out.iou[0, 1:].argmax()) + 1
        wanted = 1 if best_rated != 1 else 3
        model.click_choice.proj.bias.copy_(torch.tensor([5.0 if k == wanted else 0.0 for k in (1, 2, 3)]))
        out = model.prompted(feats, click)
        assert model.click_choice.fitted and out.choice.shape == (1, 3)
        assert model.answer_index(out.iou[0], True, out.choice[0]) == wanted
        assert model.answer_index(out.iou[0], False, out.choice[0]) == 0  # several prompts: the single-mask output
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    assert torch.equal(load_checkpoint(path).model.click_choice.proj.bias, model.click_choice.proj.bias)
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("model.click_choice.")}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    assert not load_checkpoint(tmp_path / "old.safetensors").model.click_choice.fitted


def test_box_output_answers_a_box_alone_and_survives_a_round_trip(tmp_path):
    """A box alone is answered by output ``box_output`` (0 unless set), a box with clicks by the better rated of
    outputs 0 and ``box_output``; several clicks, propagated slices and a single click keep their rules;
    scripts/set_box_output.py writes it with its provenance; a checkpoint without the buffer (every checkpoint
    before 2026-12-04) loads answering boxes with output 0."""
    import subprocess
    import sys

    from safetensors import safe_open
    from safetensors.torch import save_file

    ckpt = new_checkpoint("tiny")
    model = ckpt.model.eval()
    iou = torch.tensor([0.9, 0.1, 0.2, 0.3])
    assert int(model.box_output) == 0 and model.answer_index(iou, False, box_alone=True) == 0
    assert model.answer_index(torch.tensor([0.1, 0.2, 0.9, 0.3]), False, box_corrected=True) == 0
    model.box_output.fill_(2)
    assert model.answer_index(iou, False, box_alone=True) == 2
    # a box with correction clicks: the one of outputs 0 and box_output the IoU head rates higher
    assert model.answer_index(iou, False, box_corrected=True) == 0
    assert model.answer_index(torch.tensor([0.1, 0.2, 0.9, 0.3]), False, box_corrected=True) == 2
    assert model.answer_index(torch.tensor([0.1, 0.2, 0.9, 0.3]), False) == 0  # clicks, propagation: output 0
    assert model.answer_index(iou, True) == 3             # a single click: the IoU head's best multimask output
    base = save_checkpoint(ckpt, tmp_path / "base.safetensors")
    assert int(load_checkpoint(base).model.box_output) == 2
    with safe_open(str(base), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "model.box_output"}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    assert int(load_checkpoint(tmp_path / "old.safetensors").model.box_output) == 0
    from medpclip.model.checkpoint import REPO_ROOT
    run = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "set_box_output.py"), "--output", "3", "--base",
                          str(tmp_path / "old.safetensors"), "--out", str(tmp_path / "set.safetensors"),
                          "--note", "test"], capture_output=True, text=True, encoding="utf-8")
    assert run.returncode == 0, run.stderr
    written = load_checkpoint(tmp_path / "set.safetensors")
    assert int(written.model.box_output) == 3 and written.provenance["box_output"]["output"] == 3
    assert written.provenance["box_output"]["note"] == "test"
    expected = model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in written.model.state_dict().items() if k != "box_output")
    bad = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "set_box_output.py"), "--output", "7", "--base",
                          str(base), "--out", str(tmp_path / "bad.safetensors")], capture_output=True, text=True,
                         encoding="utf-8")
    assert bad.returncode != 0 and "outputs 0..3" in bad.stderr and not (tmp_path / "bad.safetensors").exists()


def test_the_bundled_default_carries_the_commands_that_made_it():
    """The default since 2026-12-05 (docs/RESULTS.md "Candidate of 2026-12-05", made by
    scripts/train_candidate_2026_12_05.sh): its provenance holds the commands, its own box output and a fitted click
    choice head."""
    from medpclip.model.checkpoint import default_checkpoint_path

    ckpt = load_checkpoint(default_checkpoint_path())
    assert default_checkpoint_path().name == "medpclip_tiny_default.safetensors"
    assert int(ckpt.model.box_output) == 3 and ckpt.provenance["box_output"]["output"] == 3
    assert ckpt.model.click_choice.fitted
    assert "--correction-rounds 4" in ckpt.provenance["release_2026_12_05"]["stage1_commands"][1]
