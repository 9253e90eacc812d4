"""MATLAB-compatible bicubic resize against reference values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rwsr.ops.resize import imresize, imresize_array, resize_matrix

# MATLAB's antialiased x1/2 bicubic taps: 0.5 * cubic(d / 2) at d = +-0.5, 1.5, 2.5, 3.5 (a = -0.5).
MATLAB_HALF_TAPS = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
# First output row: taps falling left of the image are mirrored (symmetric padding) onto pixels 1..4.
MATLAB_HALF_FIRST_ROW = [0.546875, 0.3984375, 0.1015625, -0.03515625, -0.01171875]


def test_downscale_by_two_uses_matlabs_antialiased_taps():
    matrix = resize_matrix(16, 8, 0.5)
    # Output pixel 3 (0-based) centres on input coordinate 6.5: taps on inputs 3..10.
    np.testing.assert_allclose(matrix[3, 3:11], MATLAB_HALF_TAPS, atol=1e-12)
    np.testing.assert_allclose(matrix[0, :5], MATLAB_HALF_FIRST_ROW, atol=1e-12)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_upscale_by_two_uses_plain_cubic_taps():
    # Output pixel 4 (0-based) centres on input coordinate 1.75: distances 1.75, 0.75, -0.25, -1.25.
    matrix = resize_matrix(8, 16, 2.0)
    np.testing.assert_allclose(matrix[4, 0:4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125], atol=1e-12)
    # Output pixel 2 centres on 0.75: its tap on input -1 is mirrored onto input 0.
    np.testing.assert_allclose(matrix[2, 0:3], [-0.0234375 + 0.2265625, 0.8671875, -0.0703125], atol=1e-12)


def test_interior_agrees_with_pillow_which_shares_the_kernel():
    image = np.random.default_rng(0).random((40, 36), dtype=np.float32)
    for scale, size in ((0.5, (18, 20)), (0.25, (9, 10)), (2.0, (72, 80))):
        ours = imresize_array(image, scale)
        pillow = np.asarray(Image.fromarray(image, mode="F").resize(size, Image.BICUBIC))
        assert ours.shape == pillow.shape
        border = 3 if scale < 1 else 6
        np.testing.assert_allclose(ours[border:-border, border:-border], pillow[border:-border, border:-border], atol=1e-5)


def test_constant_and_linear_images_are_preserved_inside():
    np.testing.assert_allclose(imresize_array(np.full((16, 16, 3), 0.3), 0.25), 0.3)
    ramp = np.tile(np.arange(32, dtype=np.float64), (32, 1))
    down = imresize_array(ramp, 0.5)
    # Output pixel j centres on input coordinate 2j + 0.5 (0-based).
    np.testing.assert_allclose(down[:, 3:-3], np.tile(2 * np.arange(16) + 0.5, (16, 1))[:, 3:-3], atol=1e-9)


def test_torch_and_numpy_agree_and_torch_is_differentiable():
    pixels = np.random.default_rng(2).random((20, 24, 3), dtype=np.float32)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).requires_grad_()
    out = imresize(tensor, 0.25)
    assert out.shape == (1, 3, 5, 6)
    np.testing.assert_allclose(out[0].permute(1, 2, 0).detach().numpy(), imresize_array(pixels, 0.25), atol=1e-6)
    out.sum().backward()
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_rejects_non_positive_scale():
    with pytest.raises(ValueError):
        imresize(torch.zeros(1, 3, 4, 4), 0)
