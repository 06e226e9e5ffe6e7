"""The stuff layer of the shapes world: texture tiles, the sky/ground layout and the background image.

:func:`course_utils.data.shapes.make_scene` draws a layout (sky above a wavy horizon, grass
and/or water below), crops one texture tile per stuff class and composes the background from
them before it paints the objects. Tiles and coordinate grids are built once per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .classes import STUFF

SKY, GRASS, WATER = STUFF

_TEXTURE_SIZE = 256  # side of each stored texture tile; scenes crop from it
_TEXTURES_PER_CLASS = 6


def _smooth_noise(rng: np.random.Generator, size: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Value noise in [-1, 1]: a coarse random grid upsampled bicubically to ``size``."""
    grid = torch.from_numpy(rng.uniform(-1, 1, (1, 1, cells_y, cells_x)).astype(np.float32))
    up = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=True)
    return up[0, 0].clamp(-1, 1).numpy()


def _make_texture(rng: np.random.Generator, class_id: int, size: int) -> np.ndarray:
    """One texture tile (size, size, 3) float32 in [0, 1] for a stuff class."""
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    if class_id == SKY:  # bright gradient with soft clouds
        base = np.array([0.55, 0.75, 0.95], np.float32)
        top = np.array([0.35, 0.55, 0.90], np.float32)
        grad = top + (base - top) * yy[..., None]
        clouds = np.clip(_smooth_noise(rng, size, 6, 6) + 0.4 * _smooth_noise(rng, size, 14, 14), 0, 1)
        tex = grad * (1 - 0.7 * clouds[..., None]) + 0.97 * 0.7 * clouds[..., None]
    elif class_id == GRASS:  # green with vertical streaks and speckle
        streaks = _smooth_noise(rng, size, 8, 64)
        patches = _smooth_noise(rng, size, 5, 5)
        speckle = rng.uniform(-1, 1, (size, size)).astype(np.float32)
        light = 1 + 0.22 * streaks + 0.15 * patches + 0.10 * speckle
        tex = np.array([0.22, 0.55, 0.18], np.float32) * light[..., None]
    elif class_id == WATER:  # dark blue with horizontal ripples
        wobble = _smooth_noise(rng, size, 6, 6)
        phase = yy * rng.uniform(28, 40) + 3.0 * wobble
        ripples = np.sin(phase)
        speckle = rng.uniform(-1, 1, (size, size)).astype(np.float32)
        light = 1 + 0.25 * ripples + 0.08 * speckle + 0.1 * _smooth_noise(rng, size, 4, 4)
        tex = np.array([0.08, 0.22, 0.50], np.float32) * light[..., None]
    else:
        raise ValueError(f"{class_id} is not a stuff class id")
    return np.clip(tex, 0, 1).astype(np.float32)


@lru_cache(maxsize=1)
def _texture_bank() -> dict[int, np.ndarray]:
    """Texture tiles per stuff class, (K, 3, S, S); built once per process from a fixed seed."""
    rng = np.random.default_rng(20240601)
    return {c: np.stack([_make_texture(rng, c, _TEXTURE_SIZE).transpose(2, 0, 1)
                         for _ in range(_TEXTURES_PER_CLASS)]) for c in STUFF}


@lru_cache(maxsize=1)
def _shade_bank() -> np.ndarray:
    """Gentle lighting factors (S, S) around 1 over the whole scene, so no region is perfectly flat."""
    rng = np.random.default_rng(7)
    return (1 + 0.05 * _smooth_noise(rng, _TEXTURE_SIZE, 8, 8)).astype(np.float32)


@lru_cache(maxsize=1)
def _flipped_bank() -> dict[int, np.ndarray]:
    """The texture tiles of :func:`_texture_bank` mirrored left-right, (K, 3, S, S) contiguous per class.

    A mirrored crop read from here has positive strides, so copying it is a plain strided copy.
    """
    return {c: np.ascontiguousarray(tiles[..., ::-1]) for c, tiles in _texture_bank().items()}


@lru_cache(maxsize=8)
def _axis(size: int) -> np.ndarray:
    """Pixel-centre coordinates along one axis, (size,) float32; broadcast it, never tile it."""
    return np.arange(size, dtype=np.float32) + 0.5


@lru_cache(maxsize=8)
def _axis64(size: int) -> np.ndarray:
    """:func:`_axis` as float64 (exact): what float32 coordinates become next to a float64 operand."""
    return _axis(size).astype(np.float64)


@lru_cache(maxsize=8)
def _ranks(size: int) -> np.ndarray:
    """Row (or column) numbers 0..size-1, (size,) int16, to compare with per-column thresholds."""
    return np.arange(size, dtype=np.int16)


def _crop(tile: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    """A (..., size, size) window of a tile (..., S, S) at relative offsets ``where`` in [0, 1)^2.

    The tile is repeated first when ``size`` exceeds it.
    """
    if size > tile.shape[-1]:
        reps = (1,) * (tile.ndim - 2) + (-(-size // tile.shape[-1]) + 1,) * 2
        tile = np.tile(tile, reps)
    oy, ox = (where * (tile.shape[-1] - size + 1)).astype(int)
    return tile[..., oy:oy + size, ox:ox + size]


def _texture_crop(class_id: int, pick: float, flip: float, where: list[float], size: int) -> np.ndarray:
    """The (3, size, size) texture of one stuff class in this scene: a tile, a window of it, maybe mirrored.

    A view, never a copy; a mirrored window comes from :func:`_flipped_bank` (same values as
    ``window[..., ::-1]``) so that its strides stay positive.
    """
    k = int(pick * _TEXTURES_PER_CLASS)
    if size > _TEXTURE_SIZE:
        tex = _crop(_texture_bank()[class_id][k], np.asarray(where), size)
        return tex[..., ::-1] if flip < 0.5 else tex
    span = _TEXTURE_SIZE - size + 1
    oy, ox = int(where[0] * span), int(where[1] * span)
    if flip < 0.5:
        ox = _TEXTURE_SIZE - size - ox  # the mirrored tile's column of the window's last column
        return _flipped_bank()[class_id][k][:, oy:oy + size, ox:ox + size]
    return _texture_bank()[class_id][k][:, oy:oy + size, ox:ox + size]


def _stuff_layout(rng: np.random.Generator, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Stuff class per pixel: sky above a wavy horizon, grass/water below.

    Returns:
        layout (size, size) uint8 class ids; ``first_ground`` (size,) int64, the first ground row
        of each column; ``first_far`` (size,) int64, the first column of the far ground class in
        each row, or None when one class covers the ground; ``(near, far)`` ground class ids.
    """
    u = rng.random(12)
    ax = _axis(size)
    x = ax / size
    horizon = size * (0.2 + 0.35 * u[0] + 0.12 * (u[1] - 0.5) * (x - 0.5)
                      + 0.03 * u[2] * np.sin(2 * np.pi * (x * (1 + 2 * u[3]) + u[4])))
    # ground where ax[y] >= horizon[x] (compared in float64): rows from the count of smaller ax
    first_ground = np.searchsorted(_axis64(size), horizon, side="left")
    ranks = _ranks(size)
    below = (ranks[:, None] >= first_ground.astype(np.int16)[None, :]).view(np.uint8)  # (H, W) 0/1
    kind = int(3 * u[5])  # 0: grass, 1: water, 2: both, split by a slanted wavy shore
    if kind < 2:
        ground = (GRASS, WATER)[kind]
        layout = below * np.uint8(ground - SKY)
        layout += np.uint8(SKY)
        return layout, first_ground, None, (ground, ground)
    y = ax / size
    shore = size * (0.3 + 0.4 * u[6] + (u[7] - 0.5) * (y - 0.5)
                    + 0.03 * np.sin(2 * np.pi * (y * (1 + 2 * u[8]) + u[9])))
    near, far = (GRASS, WATER) if u[10] < 0.5 else (WATER, GRASS)
    first_far = np.searchsorted(_axis64(size), shore, side="left")  # near where ax[x] < shore[y]
    is_far = (ranks[None, :] >= first_far.astype(np.int16)[:, None]).view(np.uint8)
    ground = is_far * np.uint8((far - near) % 256)
    ground += np.uint8(near - SKY)  # ground class - SKY, wrapping in uint8 like the sum itself
    layout = below * ground
    layout += np.uint8(SKY)
    return layout, first_ground, first_far, (near, far)


def _compose_stuff(textures: dict[int, np.ndarray], first_ground: np.ndarray, first_far: np.ndarray | None,
                   ground: tuple[int, int], size: int) -> np.ndarray:
    """The stuff image (3, size, size) float32: each pixel copied from the texture of its class.

    Rows above every horizon point are plain sky, rows below it plain ground; only the band in
    between (and the near/far band of the ground) takes a masked copy.
    """
    image = np.empty((3, size, size), np.float32)
    ranks = _ranks(size)
    top, bottom = int(first_ground.min()), int(first_ground.max())
    near, far = textures[ground[0]], textures[ground[1]]
    if first_far is None or top >= size:
        image[:, top:] = near[:, top:]
    else:
        rows = first_far[top:]
        left, right = int(rows.min()), int(rows.max())
        image[:, top:, :left] = near[:, top:, :left]
        image[:, top:, left:] = far[:, top:, left:]
        np.copyto(image[:, top:, left:right], near[:, top:, left:right],
                  where=ranks[None, left:right] < rows.astype(np.int16)[:, None])
    sky = textures[SKY]
    image[:, :top] = sky[:, :top]
    np.copyto(image[:, top:bottom], sky[:, top:bottom],
              where=ranks[top:bottom, None] < first_ground.astype(np.int16)[None, :])
    return image
