"""KernelGAN's networks (Bell-Kligler, Shocher, Irani, NeurIPS 2019), for several images at once.

Each module holds `n_nets` independent networks, one per image: network b only ever sees image b,
so training B images together is B separate KernelGANs that share kernel launches (the speed-up
over running images one by one). With n_nets=1 they are the paper's networks.

On CPU, grouped convolutions run group by group through a slow path, so the discriminator applies
each image's layer as one matrix product over that image's pixels (torch.bmm over images) instead,
and the generator's kernel is composed from the output side, where each layer meets one channel
rather than 64.

G takes (3, B, H, W) (colour channels are separate single-channel images, so they sit in the batch
dimension, images in the channel dimension); D takes (B, 3, h, w).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _init_per_net(weight: torch.Tensor, n_nets: int, fan_in: int, fan_out: int, generator: list[torch.Generator]):
    """Xavier-normal init of each network's slice from that image's own generator, with one
    network's fans (nn.init would count all B networks' outputs), so an image's start does not
    depend on which batch it trains in."""
    std = math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        for b, chunk in enumerate(weight.chunk(n_nets, dim=0)):
            chunk.copy_(torch.randn(chunk.shape, generator=generator[b]) * std)


class SpectralPatchLinear(nn.Module):
    """A convolution as n_nets matrices on unfolded patches, (B, in_ch*k*k, P) -> (B, out_ch, P),
    each matrix divided by its own largest singular value (one power-iteration step per training
    forward, like torch's spectral_norm, which would take the norm of all networks' weights stacked
    together and so couple the images)."""

    def __init__(self, n_nets: int, in_ch: int, out_ch: int, kernel_size: int, generator: list[torch.Generator]):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_nets, out_ch, in_ch * kernel_size**2))
        self.bias = nn.Parameter(torch.zeros(n_nets, out_ch, 1))
        _init_per_net(self.weight, n_nets, in_ch * kernel_size**2, out_ch * kernel_size**2, generator)
        u = torch.stack([torch.randn(out_ch, generator=g) for g in generator])
        self.register_buffer("u", F.normalize(u, dim=1))

    def normalized_weight(self) -> torch.Tensor:
        matrix = self.weight
        if self.training:
            with torch.no_grad():
                v = F.normalize(torch.bmm(self.u.unsqueeze(1), matrix).squeeze(1), dim=1)
                self.u.copy_(F.normalize(torch.bmm(matrix, v.unsqueeze(2)).squeeze(2), dim=1))
        u = self.u.clone()  # a later forward updates the buffer in place; this graph keeps its own
        v = F.normalize(torch.bmm(u.unsqueeze(1), matrix).squeeze(1), dim=1).detach()
        sigma = torch.bmm(u.unsqueeze(1), torch.bmm(matrix, v.unsqueeze(2)))
        return matrix / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, self.normalized_weight(), x)


class KernelGenerator(nn.Module):
    """Deep linear generator: convolutions without bias or activation, the last strided by `scale`.

    Args:
        n_nets: number of independent generators (images trained together).
        channels: hidden channels (paper: 64).
        kernel_sizes: spatial sizes of the convolutions (paper: 7, 5, 3, 1, 1, 1, a 13x13 kernel).
        scale: stride of the last layer (KernelGAN estimates the x2 kernel).
        seeds: one seed per network for its initialisation.
    """

    def __init__(self, n_nets: int = 1, channels: int = 64, kernel_sizes=(7, 5, 3, 1, 1, 1), scale: int = 2, seeds=(0,)):
        super().__init__()
        generator = [torch.Generator().manual_seed(int(s)) for s in seeds]
        widths = [1, *[channels] * (len(kernel_sizes) - 1), 1]
        self.n_nets, self.scale = n_nets, scale
        self.kernel_size = sum(kernel_sizes) - len(kernel_sizes) + 1
        self.weights = nn.ParameterList()
        for size, c_in, c_out in zip(kernel_sizes, widths[:-1], widths[1:]):
            weight = nn.Parameter(torch.empty(n_nets * c_out, c_in, size, size))
            # The paper's xavier gain 0.1: G starts near zero and the bicubic constraint shapes it.
            _init_per_net(weight, n_nets, c_in * size**2, c_out * size**2, generator)
            weight.data.mul_(0.1)
            self.weights.append(weight)

    def forward_layers(self, x: torch.Tensor) -> torch.Tensor:
        """The network as written in the paper, layer by layer; `forward` computes the same map."""
        last = len(self.weights) - 1
        for i, weight in enumerate(self.weights):
            x = F.conv2d(x, weight, stride=self.scale if i == last else 1, groups=self.n_nets)
        return x

    def kernels(self) -> torch.Tensor:
        """(n_nets, K, K) correlation kernels equal to each linear generator, differentiable.

        Correlating with a then with b is correlating with the full convolution of a and b, so
        the chain's kernel is all layers' kernels convolved together (transposed convolutions),
        starting from the single output channel: ~25x fewer operations than passing a delta
        through the 64-channel layers, and no flip."""
        kernel = torch.ones(1, self.n_nets, 1, 1, device=self.weights[0].device, dtype=self.weights[0].dtype)
        for weight in reversed(self.weights):
            kernel = F.conv_transpose2d(kernel, weight, groups=self.n_nets)
        return kernel[0]

    def forward(self, x: torch.Tensor, kernels: torch.Tensor | None = None) -> torch.Tensor:
        """(3, B, H, W) -> (3, B, (H-K)//s+1, ...): one KxK correlation + subsampling, far cheaper
        than the deep layers on every crop, with the same value and the same gradients."""
        kernels = self.kernels() if kernels is None else kernels
        return F.conv2d(x, kernels.unsqueeze(1), stride=self.scale, groups=self.n_nets)


class KernelDiscriminator(nn.Module):
    """Fully convolutional patch discriminator with a `kernel_size` receptive field.

    Args:
        n_nets: number of independent discriminators (images trained together).
        channels: hidden channels (paper: 64).
        layers: depth (paper: 7): one kernel_size conv, layers-2 1x1 conv+BN+ReLU blocks, a 1x1 conv.
        kernel_size: size of the first convolution = receptive field (paper: 7).
        seeds: one seed per network for its initialisation.
    """

    def __init__(self, n_nets: int = 1, channels: int = 64, layers: int = 7, kernel_size: int = 7, seeds=(0,)):
        super().__init__()
        generator = [torch.Generator().manual_seed(int(s) + 1) for s in seeds]
        # Xavier gain 1, where the official weights_init_D uses 0.1. Under spectral norm that makes
        # this D learn ~10x slower (Adam's step over |W|); gain 0.1 was tried and reverted: D told
        # orientations apart 3x better, yet the battery got worse (bench/README.md, 2026-12-04).
        self.kernel_size = kernel_size
        self.first = SpectralPatchLinear(n_nets, 3, channels, kernel_size, generator)
        self.blocks = nn.ModuleList([SpectralPatchLinear(n_nets, channels, channels, 1, generator) for _ in range(layers - 2)])
        # The paper's BatchNorm sees a batch of one in training mode (D is never evaluated): each
        # channel normalised over its own pixels, which is GroupNorm with one channel per group,
        # several times faster on CPU (and it keeps each image's channels apart).
        self.norms = nn.ModuleList([nn.GroupNorm(n_nets * channels, n_nets * channels) for _ in range(layers - 2)])
        self.last = SpectralPatchLinear(n_nets, channels, 1, 1, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) in [-1, 1] -> (B, h-k+1, w-k+1) probability that each k x k patch is real."""
        count, channels, height, width = x.shape
        size = self.kernel_size
        # Each pixel's size x size patch, in the weight's (channel, row, column) order (one strided
        # copy: about twice as fast as F.unfold on CPU).
        patches = x.unfold(2, size, 1).unfold(3, size, 1).permute(0, 1, 4, 5, 2, 3)
        x = self.first(patches.reshape(count, channels * size**2, -1))  # (B, channels, pixels)
        for block, norm in zip(self.blocks, self.norms):
            x = F.relu(norm(block(x).view(1, -1, x.shape[2])).view_as(x))
        return torch.sigmoid(self.last(x)).view(count, height - size + 1, width - size + 1)
