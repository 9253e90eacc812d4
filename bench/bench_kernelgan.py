"""KernelGAN accuracy and speed on the DIV2KRK protocol (scikit-image photos, known kernels).

Each photo is blurred with a known anisotropic Gaussian and subsampled x2 (blur_subsample); the
kernel is estimated on the LR image; PSNR against the true LR of the HR degraded with the
estimate and with the bicubic kernel (equal to MATLAB imresize on the shared grid), and the L1
distance of the estimate to the true kernel. Then seconds per image, one by one
versus all in one batch (one process, every image's networks as slices of batched weights).

    python bench/bench_kernelgan.py            # small: 300 iterations, 3 images
    python bench/bench_kernelgan.py --full     # the paper's 3000 iterations, 6 images
    python bench/bench_kernelgan.py --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rwsr.device import resolve_device
from rwsr.kernels.kernel_ops import bicubic_kernel, pad_to, post_process
from rwsr.kernels.train import KernelGANSettings, train_batch
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample

PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "immunohistochemistry")
# (sigma_x, sigma_y, theta) in HR pixels, within DIV2KRK's x2 range.
KERNELS = ((2.4, 0.9, 0.6), (1.0, 2.0, 1.6), (2.0, 1.2, 2.6), (1.5, 1.5, 0.0), (2.8, 1.6, 1.0), (0.8, 1.8, 2.2))


def load(name: str, side: int) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    # A centred square with an even side (chelsea is 451 wide), so HR is exactly twice the LR.
    side = min(side, *pixels.shape[:2]) // 2 * 2
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return np.ascontiguousarray(pixels[top : top + side, left : left + side, :3])


def psnr(a: np.ndarray, b: np.ndarray, border: int = 8) -> float:
    a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="paper settings (3000 iterations) on 6 images")
    parser.add_argument("--iterations", type=int, help="override the iteration count")
    parser.add_argument("--images", type=int, help="how many photos (default 3, or 6 with --full)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--skip-single", action="store_true", help="time only the batched run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    iterations = args.iterations or (3000 if args.full else 300)
    count = args.images or (6 if args.full else 3)
    side = 512 if args.full else 256
    settings = KernelGANSettings(iterations=iterations)

    hrs = [load(name, side) for name in PHOTOS[:count]]
    truths = [anisotropic_gaussian_kernel(17, *params, scale=2) for params in KERNELS[:count]]
    lrs = [blur_subsample(hr, k, 2) for hr, k in zip(hrs, truths)]
    seeds = list(range(count))
    print(f"KernelGAN bench: {count} images, LR {lrs[0].shape[1]}x{lrs[0].shape[0]}, {iterations} iterations, "
          f"device {device}, {torch.get_num_threads()} thread(s)")

    def timed(images, image_seeds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        kernels = train_batch(images, image_seeds, settings, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return kernels, time.perf_counter() - start

    train_batch(lrs[:1], seeds[:1], KernelGANSettings(iterations=5), device)  # warm-up (CUDA context, kernels)
    raw, batched_seconds = timed(lrs, seeds)
    single_seconds = None
    if not args.skip_single:
        single_seconds = sum(timed([lr], [s])[1] for lr, s in zip(lrs, seeds))

    print(f"\n{'image':22s} {'estimate':>9s} {'bicubic':>9s} {'L1 to k':>9s} {'margin':>8s}  (PSNR dB vs true LR; L1 distance to the true kernel)")
    margins = []
    for name, hr, lr, truth, kernel in zip(PHOTOS, hrs, lrs, truths, raw):
        estimate = post_process(kernel, settings.keep_largest)
        ours = psnr(blur_subsample(hr, estimate, 2), lr)
        bicubic = psnr(blur_subsample(hr, bicubic_kernel(2), 2), lr)
        size = max(estimate.shape[0], truth.shape[0])
        error = np.abs(pad_to(estimate, size) - pad_to(truth, size)).sum()  # 0 = exact, 2 = disjoint
        margins.append(ours - bicubic)
        print(f"{name:22s} {ours:9.2f} {bicubic:9.2f} {error:9.3f} {ours - bicubic:+8.2f}")
    print(f"mean margin over the bicubic assumption: {np.mean(margins):+.2f} dB (min {np.min(margins):+.2f})")

    print(f"\nbatched ({count} images in one run): {batched_seconds:.1f} s total, {batched_seconds / count:.1f} s per image")
    if single_seconds is not None:
        print(f"one by one:                  {single_seconds:.1f} s total, {single_seconds / count:.1f} s per image")
        print(f"speed-up of batching: x{single_seconds / batched_seconds:.2f}")


if __name__ == "__main__":
    main()
