"""Synthetic brain tumours drawn into brain label maps, for SynthSeg-style training images.

Four patients are all the brain-tumour training data there is (BRATS 2013 pat0003-0006), so the model learns
their look, not what a tumour's sub-regions are. A tumour drawn into a healthy brain label map, then given random
intensities like every other label (``medpclip.data.synth``), teaches the *shapes and nesting* of BRATS'
sub-regions on any contrast: an irregular core, an enhancing rim around it (most tumours), necrosis and
non-enhancing tumour inside, and peritumoral edema around the core that spreads through white matter only.
The idea is that of tumour synthesis for training (e.g. Hu et al., "Label-free liver tumor segmentation",
CVPR 2023), drawn here in the BRATS 2013 label convention.

Arrays are ``[k, j, i]``; ``spacing`` is ``(si, sj, sk)`` mm (as ``Case.canon_spacing``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from .volume import VolumeError

# the BRATS 2013 sub-region names (shared/training/brats_*/labels.json), which the vocabulary resolves
NECROSIS, EDEMA, NON_ENHANCING, ENHANCING = ("necrotic tumour core", "peritumoral edema", "non-enhancing tumour",
                                             "enhancing tumour")
TUMOUR_NAMES = (NECROSIS, EDEMA, NON_ENHANCING, ENHANCING)
MIN_VOXELS = 30  # a sub-region smaller than this is left out (not drawn, not named)


@dataclass(frozen=True)
class TumourParams:
    """Ranges the random draws come from (uniform within each range)."""

    whole_radius_mm: tuple[float, float] = (14.0, 38.0)   # extent of edema + core
    core_share: tuple[float, float] = (0.3, 0.75)         # core radius / whole radius
    rim_mm: tuple[float, float] = (1.5, 5.0)              # thickness of the enhancing rim
    enhancing_prob: float = 0.8                           # else a non-enhancing (low-grade looking) core
    necrosis_share: tuple[float, float] = (0.0, 0.9)      # share of the core's interior that is necrotic
    roughness: tuple[float, float] = (0.1, 0.4)           # amplitude of the smooth boundary perturbation
    elongation: tuple[float, float] = (0.75, 1.3)         # per-axis stretch of each blob


DEFAULT_TUMOUR = TumourParams()


def _smooth_noise(shape: tuple[int, ...], sigma_vox: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field of unit standard deviation."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma=sigma_vox, mode="reflect")
    sd = float(field.std())
    return field / sd if sd > 0 else field


def _blob(shape: tuple[int, ...], centre_vox: np.ndarray, radius_mm: float, spacing_kji: np.ndarray,
          rng: np.random.Generator, p: TumourParams) -> np.ndarray:
    """An irregular ellipsoid: normalised distance from the centre, stretched per axis and perturbed by a smooth
    random field, below 1."""
    axes = [(np.arange(n, dtype=np.float32) - c) * s / (radius_mm * rng.uniform(*p.elongation))
            for n, c, s in zip(shape, centre_vox, spacing_kji)]
    dist = np.sqrt(axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2)
    noise = _smooth_noise(shape, np.maximum(radius_mm / 3.0 / spacing_kji, 0.5), rng)
    return dist * (1.0 + rng.uniform(*p.roughness) * noise) < 1.0


def insert_tumour(label_kji: np.ndarray, spacing: np.ndarray, rng: np.random.Generator,
                  host_values: Collection[int], brain_values: Collection[int], values: dict[str, int],
                  params: TumourParams = DEFAULT_TUMOUR) -> tuple[np.ndarray, dict[int, str]]:
    """A copy of ``label_kji`` with one tumour drawn in (module docstring) and the values it drew, named.

    The tumour is centred on a random voxel of ``host_values`` (cerebral white matter); its core may replace any
    tissue, its edema only ``host_values`` (edema follows white-matter tracts, it does not enter cortex or
    ventricles); nothing is drawn outside ``brain_values``. ``values`` maps each of ``TUMOUR_NAMES`` to the
    label value it gets (values not already in the map). Sub-regions under ``MIN_VOXELS`` are not drawn."""
    from scipy.ndimage import distance_transform_edt

    p = params
    label = np.asarray(label_kji)
    if label.ndim != 3:
        raise VolumeError(f"label map has shape {label.shape}; a 3D [k, j, i] array is required")
    missing = [n for n in TUMOUR_NAMES if n not in values]
    if missing:
        raise ValueError(f"no label value given for {missing}")
    used = np.isin(label, list(values.values()))  # one pass over the map, not one per value
    clash = sorted(int(v) for v in np.unique(label[used])) if used.any() else []
    if clash:
        raise ValueError(f"tumour values {clash} are already used by the label map")
    spacing_kji = np.asarray(spacing, dtype=float).reshape(3)[::-1]
    host = np.isin(label, list(host_values))
    if not host.any():
        raise VolumeError("the label map has no voxel of the host tissue to grow a tumour in")
    centre = np.argwhere(host)[int(rng.integers(int(host.sum())))]

    whole_r = rng.uniform(*p.whole_radius_mm)
    core_r = whole_r * rng.uniform(*p.core_share)
    # work in a box around the tumour only: the whole map is ~10 M voxels, the box ~1 M
    reach = np.ceil(1.6 * whole_r / spacing_kji).astype(int)
    lo = np.maximum(centre - reach, 0)
    hi = np.minimum(centre + reach + 1, label.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    sub = label[box]
    shape = sub.shape
    c = (centre - lo).astype(np.float32)

    brain = np.isin(sub, list(brain_values))
    whole = _blob(shape, c, whole_r, spacing_kji, rng, p) & brain
    offset = rng.normal(0.0, 0.25 * (whole_r - core_r), 3) / spacing_kji   # the core need not be central
    core = _blob(shape, c + offset.astype(np.float32), core_r, spacing_kji, rng, p) & brain
    edema = whole & ~core & np.isin(sub, list(host_values))

    if rng.random() < p.enhancing_prob and core.any():
        depth = distance_transform_edt(core, sampling=spacing_kji)
        rim = core & (depth <= rng.uniform(*p.rim_mm))
    else:
        rim = np.zeros_like(core)
    interior = core & ~rim
    necrosis = np.zeros_like(core)
    if interior.any():
        share = rng.uniform(*p.necrosis_share)
        field = _smooth_noise(shape, np.maximum(core_r / 4.0 / spacing_kji, 0.5), rng)
        cut = np.quantile(field[interior], 1.0 - share) if share > 0 else np.inf
        necrosis = interior & (field >= cut)
    # a core sub-region too small to be a target joins the solid core, so that the core is drawn whole
    if int(necrosis.sum()) < MIN_VOXELS:
        necrosis = np.zeros_like(core)
    if int(rim.sum()) < MIN_VOXELS:
        rim = np.zeros_like(core)
    non_enhancing = core & ~rim & ~necrosis
    if 0 < int(non_enhancing.sum()) < MIN_VOXELS and rim.any():
        rim, non_enhancing = rim | non_enhancing, np.zeros_like(core)

    out = label.copy()
    region = out[box]
    drawn: dict[int, str] = {}
    for name, mask in ((EDEMA, edema), (ENHANCING, rim), (NECROSIS, necrosis), (NON_ENHANCING, non_enhancing)):
        if int(mask.sum()) >= MIN_VOXELS:
            region[mask] = values[name]
            drawn[int(values[name])] = name
    return out, drawn


def tumour_values(label_kji: np.ndarray) -> dict[str, int]:
    """Unused label values for the four sub-regions: just above the map's largest value."""
    top = int(np.asarray(label_kji).max(initial=0))
    return {name: top + 1 + n for n, name in enumerate(TUMOUR_NAMES)}


# How each sub-region looks against white matter on the two BRATS sequences, as a share of the image's intensity
# span (the radiological rules, not fitted to any patient): on FLAIR the oedema and the tumour are bright; on T1c
# the enhancing rim is the brightest tissue, the necrosis dark, the non-enhancing tumour and oedema a little dark.
SEQUENCE_CONTRASTS: dict[str, dict[str, tuple[float, float]]] = {
    "FLAIR": {EDEMA: (0.25, 0.6), ENHANCING: (0.15, 0.5), NON_ENHANCING: (0.15, 0.6), NECROSIS: (-0.1, 0.5)},
    "T1c": {ENHANCING: (0.45, 0.8), EDEMA: (-0.25, 0.0), NON_ENHANCING: (-0.35, -0.05), NECROSIS: (-0.6, -0.25)},
}
BRIGHTEST = {"T1c": ENHANCING}  # at least as bright as any other tissue of the image
CONTRASTS = ("random", "sequence")  # how a tumour image's sub-regions get their intensities


def sequence_contrast(values: dict[str, int], host_values: Collection[int], sequence: str
                      ) -> Callable[[np.ndarray, np.random.Generator], None]:
    """An ``adjust_means`` for ``synth.synthesize``: the sub-regions' means set against the white matter's
    (``host_values``) as on ``sequence`` (``SEQUENCE_CONTRASTS``); the rest of the brain keeps its random contrast."""
    if sequence not in SEQUENCE_CONTRASTS:
        raise ValueError(f"unknown sequence {sequence!r}; use one of {sorted(SEQUENCE_CONTRASTS)}")
    rules = SEQUENCE_CONTRASTS[sequence]

    def adjust(means: np.ndarray, rng: np.random.Generator) -> None:
        white = float(np.mean(means[list(host_values)]))
        span = max(float(means.max() - means.min()), 0.2)
        others = np.ones(len(means), bool)
        others[[v for v in values.values() if v < len(means)]] = False
        top = float(means[others].max())
        for name, (low, high) in rules.items():
            mean = white + rng.uniform(low, high) * span
            if BRIGHTEST.get(sequence) == name:
                mean = max(mean, top + 0.05 * span)
            if values[name] < len(means):  # a sub-region that was not drawn has no entry
                means[values[name]] = mean

    return adjust
