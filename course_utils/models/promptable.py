"""A small promptable segmenter (the SAM idea, Kirillov et al., 2023): click on a scene, get a mask.

SAM splits the work in two, and so does this model:

* ``embed(images)`` runs the heavy part **once per image**: a small encoder-decoder gives a fine
  pixel embedding (``fine``, stride 2: where exactly the edges are), a coarse context map (``coarse``,
  stride 8: what is where), the image's colours at stride 2, and the scores of an auxiliary semantic
  head (``class_logits``, trained with a cross-entropy next to the mask loss: SAM learned from a
  billion masks, a model trained for a minute needs this shortcut to learn what "all the sky" is).
* ``decode(embedding, clicks)`` is the light **prompt path**, run once per click (or set of clicks).
  The clicks become dense maps: a Gaussian bump and a distance map for the positive clicks, the same
  for the negative ones; how much every cell looks like the clicked one (features, colour, class
  scores; features and colour also only near the click, so a far-away object of the same colour
  drops out); the class scores under the click, given to every cell; and the previous mask (SAM's
  "mask prompt", for a corrective click). A few convolutions on the coarse grid turn them into a
  **per-cell filter**; upsampled to the fine grid and applied to the fine embedding and maps (a dot
  product per pixel), it gives the mask logits, upsampled to the image. The prompt path never
  touches the image again, so a click costs a few milliseconds on a CPU.

A click is a row ``(row, col, label)`` in pixel coordinates: label 1 = positive ("this"), 0 =
negative ("not this"), -1 = padding (ignored), as SAM's point labels. A click on a thing should
return that object's visible mask; a click on stuff (sky, grass, water) its whole stuff segment.

    from course_utils.models.promptable import build_promptable
    model = build_promptable()
    emb = model.embed(images)                          # once per image: {"fine", "coarse", ...}
    logits = model.decode(emb, torch.tensor([[[40., 60., 1.]]]))   # (1, 1, H, W): mask where > 0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import NUM_CLASSES
from .unet import conv_bn_relu

POSITIVE, NEGATIVE, PADDING = 1, 0, -1  # click labels, as SAM's point labels


@dataclass(frozen=True)
class PromptableConfig:
    """How to build a ``PromptableSegmenter``."""

    channels: tuple[int, ...] = (24, 40, 64)  # encoder width per level (strides 2, 4, 8)
    fine_dim: int = 16  # channels of the stride-2 pixel embedding the prompt path's filters read
    coarse_dim: int = 48  # channels of the stride-8 context map the prompt path works on
    prompt_width: int = 48  # channels of the prompt path's convolutions
    prompt_layers: int = 3  # 3x3 convolutions of the prompt path (dilations 1, 2, 4, ...): its reach
    click_sigma: float = 6.0  # width (pixels, full resolution) of the Gaussian bump drawn at each click
    local_reach: float = 24.0  # pixels: the "near the click" window of the local similarity maps (a large object's
    # radius): far-away look-alikes (an object of the same colour elsewhere) drop out of those maps
    num_classes: int = NUM_CLASSES  # classes of the embedding's auxiliary semantic head (0: no head). Trained with a
    # cross-entropy next to the mask loss, it teaches the small encoder fast what is sky, grass or water; the prompt
    # path compares class scores with the clicked pixel's (a click on stuff then finds all of that stuff)
    use_mask_prompt: bool = True  # feed the previous mask to the prompt path (SAM's mask prompt)


class PromptableSegmenter(nn.Module):
    """Image embedding once, then a light prompt path per click (see the module docstring).

    Args:
        config: a ``PromptableConfig``.
    """

    def __init__(self, config: PromptableConfig = PromptableConfig()):
        super().__init__()
        c = tuple(config.channels)
        if len(c) != 3:
            raise ValueError(f"channels needs 3 levels (strides 2, 4, 8), got {c}")
        self.config = config
        # a stride-2 stem: full-resolution convolutions are the expensive ones on a CPU, and the mask
        # logits come out at stride 2, upsampled bilinearly (sub-pixel edges, smooth along the shapes)
        self.stem = nn.Sequential(nn.Conv2d(3, c[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c[0]),
                                  nn.ReLU(inplace=True), conv_bn_relu(c[0], c[0], 1))
        self.down = nn.ModuleList(conv_bn_relu(i, o, 2) for i, o in zip(c[:-1], c[1:]))  # strides 4, 8
        self.context = nn.Sequential(conv_bn_relu(c[2], c[2], 1, dilation=2), conv_bn_relu(c[2], c[2], 1, dilation=4))
        self.to_coarse = nn.Conv2d(c[2], config.coarse_dim, 1)
        self.lateral = nn.ModuleList(nn.Conv2d(ch, config.fine_dim, 1) for ch in c[:2])  # strides 2, 4
        self.top = nn.Conv2d(c[2], config.fine_dim, 1)
        self.fine_mix = conv_bn_relu(config.fine_dim, config.fine_dim, 1)
        self.classify = nn.Conv2d(config.fine_dim, config.num_classes, 1) if config.num_classes else None
        # + pos/neg Gaussians, pos/neg distances, pos/neg feature and class similarity, mask prompt, and the
        # class scores under the positive clicks, the same at every cell: far from the click, a cell still
        # knows whether the click was on stuff (take all of that class) or on a thing (stay near the click)
        in_ch = config.coarse_dim + 9 + config.num_classes
        layers: list[nn.Module] = []
        for k in range(config.prompt_layers):
            d = 2 ** k
            layers += [nn.Conv2d(in_ch if k == 0 else config.prompt_width, config.prompt_width, 3, padding=d,
                                 dilation=d), nn.ReLU(inplace=True)]
        self.prompt = nn.Sequential(*layers)
        # a filter over the fine embedding and the 12 fine prompt maps, and a bias, per coarse cell
        self.to_filter = nn.Conv2d(config.prompt_width, config.fine_dim + 13, 1)

    def embed(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The image embedding, computed once per image and reused by every click.

        Args:
            images: (B, 3, H, W) float in [0, 1]; H and W multiples of 8.

        Returns:
            ``{"fine": (B, fine_dim, H/2, W/2), "coarse": (B, coarse_dim, H/8, W/8), "colour": (B, 3, H/2, W/2),
            "class_logits": (B, num_classes, H/2, W/2)}`` (colour: the image at the fine grid's resolution;
            class_logits: the auxiliary semantic head, absent when ``num_classes`` is 0).
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[-1] % 8 or images.shape[-2] % 8:
            raise ValueError(f"image sides must be multiples of 8, got {tuple(images.shape[-2:])}")
        x = self.stem(images)  # (B, c0, H/2, W/2)
        skips = [x]
        for level in self.down:
            x = level(F.max_pool2d(x, 2))  # (B, c_k, H / 2**(k+1), W / 2**(k+1))
            skips.append(x)
        deep = self.context(x)  # (B, c2, H/8, W/8): a wider view at the coarsest level
        fine = self.top(deep)
        for lateral, skip in zip(reversed(self.lateral), reversed(skips[:2])):  # strides 4, 2
            fine = F.interpolate(fine, size=skip.shape[-2:], mode="bilinear", align_corners=False) + lateral(skip)
        colour = F.avg_pool2d(images, 2)  # (B, 3, H/2, W/2): the prompt path compares colours with the click's
        fine = self.fine_mix(fine)
        out = {"fine": fine, "coarse": self.to_coarse(deep), "colour": colour}
        if self.classify is not None:
            out["class_logits"] = self.classify(fine)  # (B, num_classes, H/2, W/2)
        return out

    def click_maps(self, clicks: torch.Tensor, size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
        """Dense prompt maps on the coarse grid: Gaussian bumps and distances, positive then negative.

        Args:
            clicks: (B, K, 3) rows (row, col, label) in full-resolution pixels; label -1 = padding.
            size: the image's (H, W).
            grid: the coarse grid's (h, w).

        Returns:
            (B, 4, h, w): positive bumps, negative bumps (max over clicks, 0 without clicks), distance
            to the nearest positive and negative click (in image sides, 1 without clicks).
        """
        (H, W), (h, w) = size, grid
        dev = clicks.device
        ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * (H / h) - 0.5  # cell centres, image pixels
        xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * (W / w) - 0.5
        dy = ys[None, None, :, None] - clicks[:, :, 0, None, None]  # (B, K, h, 1)
        dx = xs[None, None, None, :] - clicks[:, :, 1, None, None]  # (B, K, 1, w)
        dist = (dy * dy + dx * dx).sqrt() / max(H, W)  # (B, K, h, w) in image sides
        maps = []
        for label in (POSITIVE, NEGATIVE):
            mine = (clicks[:, :, 2] == label)[:, :, None, None]  # (B, K, 1, 1)
            d = torch.where(mine, dist, torch.ones_like(dist)).amin(1)  # (B, h, w); 1 = no click of this kind
            bump = torch.exp(-0.5 * (d * max(H, W) / self.config.click_sigma) ** 2) * mine.any(1).float()
            maps += [bump, d]
        return torch.stack([maps[0], maps[2], maps[1], maps[3]], 1)  # (B, 4, h, w)

    def decode(self, embedding: dict[str, torch.Tensor], clicks: torch.Tensor,
               mask_prompt: torch.Tensor | None = None) -> torch.Tensor:
        """The prompt path: clicks (and optionally the previous mask) to mask logits.

        Args:
            embedding: ``embed``'s output for B images (or indexed with ``select`` to B prompts).
            clicks: (B, K, 3) rows (row, col, label): label 1 positive, 0 negative, -1 padding.
                Every prompt needs at least one positive click.
            mask_prompt: (B, 1, H, W) logits of the previous prediction (None: no previous mask).

        Returns:
            (B, 1, H, W) mask logits (the mask is where they are > 0).
        """
        fine, coarse = embedding["fine"], embedding["coarse"]
        B = fine.shape[0]
        H, W = 2 * fine.shape[-2], 2 * fine.shape[-1]  # the image size: the fine embedding is at stride 2
        h, w = coarse.shape[-2:]
        clicks = _check_clicks(clicks, B, H, W).to(fine.device, torch.float32)
        maps = self.click_maps(clicks, (H, W), (h, w))  # (B, 4, h, w)
        probs = self._class_probs(embedding)  # (B, num_classes, H/2, W/2) or None
        sims = [self._similarity(coarse, clicks, label, H, W) for label in (POSITIVE, NEGATIVE)]  # (B, 1, h, w) each
        class_sims = self._class_similarity(probs, clicks, H, W, (h, w))  # 2 x (B, 1, h, w)
        prev = torch.zeros(B, 1, h, w, device=fine.device, dtype=coarse.dtype)
        if mask_prompt is not None and self.config.use_mask_prompt:
            prev = torch.tanh(F.adaptive_avg_pool2d(mask_prompt.to(coarse.dtype), (h, w)) / 4)  # (B, 1, h, w) in -1..1
        clicked = self._clicked_classes(probs, clicks, H, W, (h, w))  # (B, num_classes, h, w)
        x = torch.cat([coarse, maps.to(coarse.dtype), *sims, *class_sims, prev, clicked], 1)  # (B, in_ch, h, w)
        filters = self.to_filter(self.prompt(x))  # (B, D + 13, h, w)
        # the same prompt maps on the fine grid: the filters can ask for "near the click and like it" exactly
        fine_maps = self.click_maps(clicks, (H, W), fine.shape[-2:])  # (B, 4, H/2, W/2)
        fine_sims = [self._similarity(fine, clicks, label, H, W) for label in (POSITIVE, NEGATIVE)]
        colour_sims = [self._similarity(embedding["colour"], clicks, label, H, W, colour=True)
                       for label in (POSITIVE, NEGATIVE)]
        near = torch.exp(-0.5 * (fine_maps[:, 2:3] * max(H, W) / self.config.local_reach) ** 2)  # (B, 1, H/2, W/2)
        local = [fine_sims[0] * near, colour_sims[0] * near]  # like the positive click, and near it
        fine_class = self._class_similarity(probs, clicks, H, W, fine.shape[-2:])
        fine = torch.cat([fine, fine_maps.to(fine.dtype), *fine_sims, *colour_sims, *local, *fine_class], 1)  # D + 12
        filters = F.interpolate(filters, size=fine.shape[-2:], mode="bilinear", align_corners=False)  # (B, D + 13, ...)
        logits = (filters[:, :-1] * fine).sum(1, keepdim=True) + filters[:, -1:]  # (B, 1, H/2, W/2)
        return F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)  # (B, 1, H, W)

    def _similarity(self, features: torch.Tensor, clicks: torch.Tensor, label: int, H: int, W: int,
                    colour: bool = False) -> torch.Tensor:
        """How much every cell of a map looks like the cell under a click of one label (max over those clicks).

        Features are compared by <f(x), q> / <q, q> (1 where a cell's feature equals the clicked one q,
        about 0 for unrelated ones; cheaper than a cosine, which normalises every cell); colours by
        exp(-|c(x) - q|^2 / 0.02) (1 for the clicked colour, about 0 for a clearly different one). Each
        click is compared on its own: a mean over two clicks would be a colour neither of them has.

        Args:
            features: (B, C, h, w) a feature map (or the image's colours) at some stride.
            clicks: (B, K, 3) rows (row, col, label) in image pixels.
            label: which clicks count (1 positive, 0 negative).
            H, W: the image size.
            colour: compare as colours (squared distance) instead of as features (dot product).

        Returns:
            (B, 1, h, w); zeros for prompts without a click of that label.
        """
        h, w = features.shape[-2:]
        rows = (clicks[:, :, 0] * h / H).long().clamp(0, h - 1)  # (B, K) cell of each click
        cols = (clicks[:, :, 1] * w / W).long().clamp(0, w - 1)
        flat = features.flatten(2)  # (B, C, h*w)
        picked = flat.gather(2, (rows * w + cols)[:, None, :].expand(-1, flat.shape[1], -1))  # (B, C, K)
        if colour:
            d2 = ((features[:, :, None] - picked[:, :, :, None, None]) ** 2).sum(1)  # (B, K, h, w)
            sims = torch.exp(-d2 / 0.02)
        else:
            query = picked / ((picked * picked).sum(1, keepdim=True) + 1e-3)  # (B, C, K)
            sims = torch.einsum("bchw,bck->bkhw", features, query)  # (B, K, h, w)
        mine = (clicks[:, :, 2] == label)[:, :, None, None]  # (B, K, 1, 1)
        best = torch.where(mine, sims, torch.full_like(sims, -1e4)).amax(1, keepdim=True)  # (B, 1, h, w)
        return best * mine.any(1, keepdim=True).to(best.dtype)

    def _class_probs(self, embedding: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Softmax of the auxiliary semantic head, (B, num_classes, H/2, W/2), or None without the head."""
        logits = embedding.get("class_logits")
        return None if logits is None else logits.softmax(1)

    def _clicked_classes(self, probs: torch.Tensor | None, clicks: torch.Tensor, H: int, W: int,
                         grid: tuple[int, int]) -> torch.Tensor:
        """The mean class scores under the positive clicks, broadcast to every cell of the grid.

        Returns:
            (B, num_classes, *grid); (B, 0, *grid) without the semantic head.
        """
        if probs is None:
            return torch.zeros(clicks.shape[0], 0, *grid, device=clicks.device)
        h, w = probs.shape[-2:]
        rows = (clicks[:, :, 0] * h / H).long().clamp(0, h - 1)  # (B, K)
        cols = (clicks[:, :, 1] * w / W).long().clamp(0, w - 1)
        picked = probs.flatten(2).gather(2, (rows * w + cols)[:, None, :].expand(-1, probs.shape[1], -1))  # (B, C, K)
        mine = (clicks[:, :, 2] == POSITIVE).to(probs.dtype)[:, None, :]  # (B, 1, K)
        query = (picked * mine).sum(2) / mine.sum(2).clamp(min=1)  # (B, C)
        return query[:, :, None, None].expand(-1, -1, *grid)

    def _class_similarity(self, probs: torch.Tensor | None, clicks: torch.Tensor, H: int, W: int,
                          grid: tuple[int, int]) -> list[torch.Tensor]:
        """How likely every cell has the class of the positive (then the negative) clicks, on a grid.

        Returns:
            two (B, 1, *grid) maps; zeros without the semantic head.
        """
        if probs is None:
            zero = torch.zeros(clicks.shape[0], 1, *grid, device=clicks.device)
            return [zero, zero]
        if tuple(probs.shape[-2:]) != tuple(grid):
            probs = F.adaptive_avg_pool2d(probs, grid)
        return [self._similarity(probs, clicks, label, H, W) for label in (POSITIVE, NEGATIVE)]

    def forward(self, images: torch.Tensor, clicks: torch.Tensor) -> torch.Tensor:
        """``decode(embed(images), clicks)``: one prompt per image.

        Args:
            images: (B, 3, H, W) float in [0, 1].
            clicks: (B, K, 3) rows (row, col, label).

        Returns:
            (B, 1, H, W) mask logits.
        """
        return self.decode(self.embed(images), clicks)


def select(embedding: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    """The embedding of image ``index[p]`` for every prompt p (several prompts per image, one embedding).

    Args:
        embedding: ``embed``'s output for B images.
        index: (P,) image index of each prompt.

    Returns:
        the same dict with P entries along the batch axis.
    """
    return {k: v[index] for k, v in embedding.items()}


def _check_clicks(clicks: torch.Tensor, batch: int, H: int, W: int) -> torch.Tensor:
    """Clicks as a (B, K, 3) tensor, with a clear message for a wrong shape, label or position."""
    clicks = torch.as_tensor(clicks)
    if clicks.dim() == 2:
        clicks = clicks[None]
    if clicks.dim() != 3 or clicks.shape[-1] != 3 or clicks.shape[0] != batch:
        raise ValueError(f"clicks must have shape ({batch}, K, 3) with rows (row, col, label), "
                         f"got {tuple(clicks.shape)}")
    labels = clicks[..., 2]
    if not bool(((labels == POSITIVE) | (labels == NEGATIVE) | (labels == PADDING)).all()):
        raise ValueError("click labels must be 1 (positive), 0 (negative) or -1 (padding)")
    if not bool((labels == POSITIVE).any(1).all()):
        raise ValueError("every prompt needs at least one positive click (label 1)")
    real = labels != PADDING
    inside = (clicks[..., 0] >= 0) & (clicks[..., 0] < H) & (clicks[..., 1] >= 0) & (clicks[..., 1] < W)
    if not bool(inside[real].all()):
        raise ValueError(f"clicks must lie inside the {H}x{W} image (row, col in pixels)")
    return clicks


def build_promptable(**kwargs) -> PromptableSegmenter:
    """An untrained promptable segmenter.

    Args:
        kwargs: ``PromptableConfig`` fields (``channels``, ``fine_dim``, ``prompt_layers``, ...).

    Returns:
        the model: ``embed(images)`` once, then ``decode(embedding, clicks)`` per click.
    """
    if "channels" in kwargs:
        kwargs["channels"] = tuple(kwargs["channels"])
    return PromptableSegmenter(PromptableConfig(**kwargs))


__all__ = ["POSITIVE", "NEGATIVE", "PADDING", "PromptableConfig", "PromptableSegmenter", "build_promptable", "select"]
