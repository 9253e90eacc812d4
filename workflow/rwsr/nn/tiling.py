"""Tiled inference for fully convolutional image networks (the SR generator, the DSGAN degrader).

The image is split into `tile` x `tile` pieces, each run with `tile_pad` pixels of real context
around it, and only the piece's own output is kept. A translation-equivariant network (convs,
nearest upsampling by whole factors) then gives the untiled result up to context beyond
`tile_pad`, while memory stays bounded by the tile size.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn as nn


@torch.no_grad()
def run_tiled(
    model: nn.Module, images: torch.Tensor, scale: int = 1, tile: int = 0, tile_pad: int = 16,
    autocast: AbstractContextManager | None = None,
) -> torch.Tensor:  # fmt: skip
    """Run `model` (output `scale` times the input's size) on an NxCxHxW tensor on its device;
    tile=0 runs the whole image at once. Returns float32."""
    autocast = autocast or nullcontext()
    height, width = images.shape[-2:]
    if tile <= 0 or (tile >= height and tile >= width):
        with autocast:
            return model(images).float()
    out = images.new_zeros((images.shape[0], 3, height * scale, width * scale), dtype=torch.float32)
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            # Context comes from the image itself; only its own borders see the network's padding.
            py0, px0 = max(y0 - tile_pad, 0), max(x0 - tile_pad, 0)
            py1, px1 = min(y1 + tile_pad, height), min(x1 + tile_pad, width)
            with autocast:
                piece = model(images[..., py0:py1, px0:px1]).float()
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = piece[
                ..., oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
    return out
