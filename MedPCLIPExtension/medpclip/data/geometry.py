"""Every coordinate conversion in one place.

Spaces: ``ijk`` (continuous voxel index of the input image, i fastest), ``ras`` and ``lps`` (world mm).
The engine works on a *canonical* copy of each volume whose array axes run i -> patient left,
j -> posterior, k -> superior (the usual radiological axial display: anterior up, patient right on
the image's left). Reorientation is a permutation + flips of array axes chosen from the affine (no
resampling, so oblique volumes go to the nearest axes), and it is exactly invertible.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


SPACES = ("ijk", "ras", "lps")
PLANES = ("axial", "coronal", "sagittal")
# canonical index axis fixed by each plane (0 = i, 1 = j, 2 = k)
PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
_CANONICAL_RAS = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=float)  # i->L, j->P, k->S


class GeometryError(ValueError):
    """Coordinates that are malformed or fall outside the image."""


def to_ijk(points: np.ndarray, space: str, affine: np.ndarray) -> np.ndarray:
    """(N, 3) points in ``space`` -> continuous ijk of the image with ``affine`` (index -> RAS)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if space == "ijk":
        return pts
    if space not in SPACES:
        raise GeometryError(f"unknown coordinate space {space!r}; use one of {SPACES}")
    if space == "lps":
        pts = pts * np.array([-1.0, -1.0, 1.0])
    homog = np.c_[pts, np.ones(len(pts))]
    return (np.linalg.inv(affine) @ homog.T).T[:, :3]


def from_ijk(points: np.ndarray, space: str, affine: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if space == "ijk":
        return pts
    out = (affine @ np.c_[pts, np.ones(len(pts))].T).T[:, :3]
    return out * np.array([-1.0, -1.0, 1.0]) if space == "lps" else out


@dataclass(frozen=True)
class Orientation:
    """Maps an input grid [k, j, i] to the canonical grid and back.

    ``perm[c]`` = input ijk axis that becomes canonical axis c; ``flip[c]`` = whether it is reversed.
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    shape_ijk: tuple[int, int, int]   # input size (ni, nj, nk)

    @classmethod
    def from_affine(cls, affine: np.ndarray, shape_ijk: tuple[int, int, int]) -> "Orientation":
        dirs = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)  # columns: RAS direction of i, j, k
        dots = _CANONICAL_RAS.T @ dirs  # [canonical c, input axis a]
        best = max(itertools.permutations(range(3)), key=lambda p: sum(abs(dots[c, p[c]]) for c in range(3)))
        flip = tuple(bool(dots[c, best[c]] < 0) for c in range(3))
        return cls(tuple(best), flip, tuple(int(s) for s in shape_ijk))

    @property
    def canonical_shape_ijk(self) -> tuple[int, int, int]:
        return tuple(self.shape_ijk[a] for a in self.perm)

    def index_matrix(self) -> np.ndarray:
        """4x4 M with input_ijk = M @ canonical_ijk (homogeneous)."""
        m = np.zeros((4, 4))
        m[3, 3] = 1
        for c, a in enumerate(self.perm):
            if self.flip[c]:
                m[a, c] = -1
                m[a, 3] = self.shape_ijk[a] - 1
            else:
                m[a, c] = 1
        return m

    def canonical_affine(self, affine: np.ndarray) -> np.ndarray:
        return affine @ self.index_matrix()

    def ijk_to_canonical(self, ijk: np.ndarray) -> np.ndarray:
        pts = np.asarray(ijk, dtype=float).reshape(-1, 3)
        inv = np.linalg.inv(self.index_matrix())
        return (inv @ np.c_[pts, np.ones(len(pts))].T).T[:, :3]

    # arrays are [k, j, i]: array axis of ijk axis a is 2 - a
    def array_to_canonical(self, arr_kji: np.ndarray) -> np.ndarray:
        axes_ijk = list(self.perm)
        out = np.transpose(arr_kji, [2 - axes_ijk[2], 2 - axes_ijk[1], 2 - axes_ijk[0]])
        flips = [ax for ax, c in zip((0, 1, 2), (2, 1, 0)) if self.flip[c]]
        return np.flip(out, axis=flips) if flips else out

    def array_from_canonical(self, arr_kji: np.ndarray) -> np.ndarray:
        flips = [ax for ax, c in zip((0, 1, 2), (2, 1, 0)) if self.flip[c]]
        arr = np.flip(arr_kji, axis=flips) if flips else arr_kji
        # canonical array axis (2 - c) holds input ijk axis perm[c] -> input array axis 2 - perm[c]
        order = [0, 0, 0]
        for c in range(3):
            order[2 - self.perm[c]] = 2 - c
        return np.transpose(arr, order)


def first_outside(ijk: np.ndarray, shape_ijk: tuple[int, int, int]) -> int | None:
    """Index of the first continuous ijk point outside the voxel grid (half-voxel margin), or None."""
    pts = np.asarray(ijk, dtype=float).reshape(-1, 3)
    outside = np.any(pts < -0.5, axis=1) | np.any(pts > np.asarray(shape_ijk, dtype=float) - 0.5, axis=1)
    return int(np.argmax(outside)) if outside.any() else None


def check_inside(ijk: np.ndarray, shape_ijk: tuple[int, int, int], what: str = "point") -> None:
    """Raise GeometryError if any continuous ijk point lies outside the voxel grid (half-voxel margin)."""
    pts = np.asarray(ijk, dtype=float).reshape(-1, 3)
    if not np.all(np.isfinite(pts)):
        raise GeometryError(f"{what} coordinates must be finite numbers")
    n = first_outside(pts, shape_ijk)
    if n is not None:
        raise GeometryError(f"{what} at ijk {np.round(pts[n], 2).tolist()} lies outside the image "
                            f"(size {list(shape_ijk)})")


def plane_axes(plane: str) -> tuple[int, int, int]:
    """(fixed axis, row axis, column axis) as canonical ijk axes. Rows run top->bottom, columns left->right.

    axial: rows j (anterior->posterior), cols i (right->left); coronal: rows k reversed (superior at the top),
    cols i; sagittal: rows k reversed, cols j (anterior->posterior).
    """
    if plane not in PLANE_AXIS:
        raise GeometryError(f"unknown plane {plane!r}; use one of {PLANES}")
    return {"axial": (2, 1, 0), "coronal": (1, 2, 0), "sagittal": (0, 2, 1)}[plane]


def extract_slice(canon_kji: np.ndarray, plane: str, index: int) -> np.ndarray:
    """2D slice (rows, cols) of a canonical [k, j, i] array, superior at the top for coronal / sagittal."""
    if plane == "axial":
        return canon_kji[index]
    if plane == "coronal":
        return canon_kji[::-1, index, :]
    return canon_kji[::-1, :, index]


def insert_slice(canon_kji: np.ndarray, plane: str, index: int, slice2d: np.ndarray) -> None:
    if plane == "axial":
        canon_kji[index] = slice2d
    elif plane == "coronal":
        canon_kji[::-1, index, :] = slice2d
    else:
        canon_kji[::-1, :, index] = slice2d


def point_to_slice(ijk_canon: np.ndarray, plane: str, shape_ijk: tuple[int, int, int]) -> tuple[int, float, float]:
    """Canonical ijk point -> (slice index, x = column, y = row) in the plane's 2D slice."""
    idx, x, y = points_to_slices(np.asarray(ijk_canon, dtype=float).reshape(1, 3), plane, shape_ijk)
    return int(idx[0]), x[0], y[0]


def points_to_slices(ijk_canon: np.ndarray, plane: str, shape_ijk: tuple[int, int, int]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) canonical ijk points -> (slice indices (N,) int, x = columns (N,), y = rows (N,)): ``point_to_slice``
    for many points at once (a stroke has hundreds of samples)."""
    p = np.asarray(ijk_canon, dtype=float).reshape(-1, 3)
    fixed, _, _ = plane_axes(plane)
    idx = np.clip(np.round(p[:, fixed]), 0, shape_ijk[fixed] - 1).astype(int)
    nk = shape_ijk[2]
    if plane == "axial":
        return idx, p[:, 0], p[:, 1]
    if plane == "coronal":
        return idx, p[:, 0], (nk - 1) - p[:, 2]
    return idx, p[:, 1], (nk - 1) - p[:, 2]


def slice_pixel_spacing(spacing_ijk: np.ndarray, plane: str) -> tuple[float, float]:
    """(row spacing, column spacing) in mm of a canonical slice."""
    _, row_axis, col_axis = plane_axes(plane)
    return float(spacing_ijk[row_axis]), float(spacing_ijk[col_axis])


def grid_mapping(moving_shape_ijk: tuple[int, int, int], moving_affine: np.ndarray,
                 fixed_shape_ijk: tuple[int, int, int], fixed_affine: np.ndarray,
                 tol_voxel: float = 0.1) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]] | None:
    """Whether the ``moving`` grid is the ``fixed`` grid with its axes permuted / reversed: every fixed voxel centre
    falls within ``tol_voxel`` voxels of a moving voxel centre and both grids hold the same voxels. Returns
    (``perm``, ``flip``): fixed ijk axis a is moving axis ``perm[a]``, reversed where ``flip[a]``; None otherwise.
    (An axis of size 1 has one centre: its spacing along that axis is not compared.)"""
    try:
        m = np.linalg.inv(moving_affine) @ fixed_affine  # fixed ijk -> moving ijk (continuous)
    except np.linalg.LinAlgError:
        return None
    fixed_n, moving_n = np.asarray(fixed_shape_ijk), np.asarray(moving_shape_ijk)
    perm = tuple(int(np.argmax(np.abs(m[:3, a]))) for a in range(3))
    if len(set(perm)) != 3 or any(moving_n[perm[a]] != fixed_n[a] for a in range(3)):
        return None
    flip = tuple(bool(m[perm[a], a] < 0) and fixed_n[a] > 1 for a in range(3))
    exact = np.zeros((4, 4))
    exact[3, 3] = 1
    for a, b in enumerate(perm):
        exact[b, a] = -1.0 if flip[a] else 1.0
        exact[b, 3] = fixed_n[a] - 1 if flip[a] else 0.0
    corners = np.array([[i, j, k, 1.0] for i in (0, fixed_n[0] - 1) for j in (0, fixed_n[1] - 1)
                        for k in (0, fixed_n[2] - 1)]).T
    # an affine difference is largest at a corner of the box: checking the 8 corners checks every voxel centre
    if np.max(np.abs((m - exact) @ corners)[:3]) > tol_voxel:
        return None
    return perm, flip


def onto_grid(array_kji: np.ndarray, perm: tuple[int, int, int], flip: tuple[bool, bool, bool]) -> np.ndarray:
    """Moving array [k, j, i] -> the fixed grid's [k, j, i] (``grid_mapping``'s perm / flip): exact, no resampling."""
    # fixed array axis x is fixed ijk axis 2 - x = moving ijk axis perm[2 - x] = moving array axis 2 - perm[2 - x]
    out = np.transpose(array_kji, [2 - perm[2 - x] for x in range(3)])
    flips = [x for x in range(3) if flip[2 - x]]
    return np.ascontiguousarray(np.flip(out, axis=flips) if flips else out)


class VolumeGeometry:
    """The geometry of one input volume as the engine sees it: its world affine, its canonical orientation and
    every index conversion between the input grid, the canonical grid and a plane's slices. The one home of
    those rules: the engine, the benchmark, the outputs and (through results) the Slicer module use it."""

    def __init__(self, affine: np.ndarray, shape_ijk: tuple[int, int, int]) -> None:
        self.affine = np.asarray(affine, dtype=float)
        self.shape_ijk = tuple(int(n) for n in shape_ijk)
        self.orient = Orientation.from_affine(self.affine, self.shape_ijk)
        self.shape = self.orient.canonical_shape_ijk            # canonical (ni, nj, nk)
        self.spacing = np.linalg.norm(self.orient.canonical_affine(self.affine)[:3, :3], axis=0)

    def n_slices(self, plane: str) -> int:
        return self.shape[plane_axes(plane)[0]]

    def input_axis(self, plane: str) -> int:
        """The input image's ijk axis normal to ``plane`` (its array axis is ``2 - input_axis``)."""
        return self.orient.perm[plane_axes(plane)[0]]

    def array_axis(self, plane: str) -> int:
        """The axis of an input [k, j, i] array normal to ``plane``."""
        return 2 - self.input_axis(plane)

    def input_slice_index(self, plane: str, canon_idx: int) -> int:
        c = plane_axes(plane)[0]
        n = self.shape_ijk[self.orient.perm[c]]
        return int(n - 1 - canon_idx) if self.orient.flip[c] else int(canon_idx)

    def canonical_slice_index(self, plane: str, input_idx: int) -> int:
        c = plane_axes(plane)[0]
        n = self.shape_ijk[self.orient.perm[c]]
        if not 0 <= input_idx < n:
            raise GeometryError(f"slice {input_idx} is outside the image (0..{n - 1} along the {plane} axis)")
        return n - 1 - input_idx if self.orient.flip[c] else input_idx

    def to_canonical_points(self, points: np.ndarray, space: str, what: str = "point") -> np.ndarray:
        """(N, 3) points in ``space`` -> canonical continuous ijk; points outside the image are an error."""
        ijk = to_ijk(points, space, self.affine)
        check_inside(ijk, self.shape_ijk, what)
        return self.orient.ijk_to_canonical(ijk)

    def to_input_ijk(self, canon_ijk: np.ndarray) -> np.ndarray:
        """(N, 3) canonical ijk -> the input image's ijk."""
        pts = np.asarray(canon_ijk, dtype=float).reshape(-1, 3)
        return (self.orient.index_matrix() @ np.c_[pts, np.ones(len(pts))].T).T[:, :3]

    def voxel_box(self, points: np.ndarray, space: str) -> list[float] | None:
        """The input-ijk box ``[i0, j0, k0, i1, j1, k1]`` enclosing ``points`` (an ROI's corners), clipped to the
        voxel centres of the image (an ROI may stick out of it); None when it does not overlap the image."""
        ijk = to_ijk(points, space, self.affine)
        lo = np.maximum(ijk.min(0), 0.0)
        hi = np.minimum(ijk.max(0), np.array(self.shape_ijk, dtype=float) - 1.0)
        if np.any(lo > hi):
            return None
        return lo.tolist() + hi.tolist()

    def slab(self, plane: str, first: int, last: int) -> tuple[slice, slice, slice]:
        """Index expression of input slices ``first..last`` (input indices along ``plane``'s axis) of a
        [k, j, i] array."""
        index = [slice(None)] * 3
        index[self.array_axis(plane)] = slice(int(first), int(last) + 1)
        return tuple(index)
