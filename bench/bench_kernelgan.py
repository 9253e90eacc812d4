"""KernelGAN anisotropy battery and speed (DIV2KRK protocol: scikit-image photos, known kernels).

Each photo (central square, resized to 512x512 with INTER_AREA) is blurred with a known anisotropic
Gaussian and subsampled x2 (blur_subsample); the kernel is estimated on the 256x256 LR image. The
battery crosses photos with major-axis angles 0, 45, 90 and 135 degrees (x right, y down), each at
an axis ratio (variance ratio, rwsr.kernels.kernel_ops.kernel_shape) between 2 and 6, under two
seeds. Per case it prints:

- margin: PSNR against the true LR of the HR degraded with the estimate, minus that with the
  bicubic kernel (equal to MATLAB imresize on the shared grid);
- angle error: between the estimate's and the truth's major axes (modulo 180 degrees);
- ratio error: the estimate's axis ratio minus the truth's.

Then the medians and means (acceptance in issue 14: median angle error <= 15 degrees over cases
with true ratio >= 2 and a mean margin at least the reference implementation's, at 3000
iterations), and seconds per image.

    python bench/bench_kernelgan.py                 # reduced: 1000 iterations, 3 photos, 2 seeds (24 runs)
    python bench/bench_kernelgan.py --full          # the paper's 3000 iterations
    python bench/bench_kernelgan.py --photos 6 --seeds 3
    python bench/bench_kernelgan.py --orient mirror # the photos flipped left-right: does a lean turn with them?
    python bench/bench_kernelgan.py --speed         # seconds per image, one image at a time, then batched
    python bench/bench_kernelgan.py --size          # does the estimate's size follow the truth's?
    python bench/bench_kernelgan.py --discrimination 45 --photo-names camera   # can D see the blur?
    python bench/bench_kernelgan.py --gaussian-g --iterations 3000   # does D's signal alone carry the size?
    python bench/bench_kernelgan.py --estimator spectral            # rwsr.kernels.spectral on the same battery
    python bench/bench_kernelgan.py --scale 4 --noise 0.03 --jpeg 80 # x4 LR with per-channel noise and JPEG, as real LR
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import yaml

from rwsr.device import resolve_device
from rwsr.kernels.kernel_ops import angle_difference, bicubic_kernel, compose_x4, kernel_shape, kernel_spread, post_process
from rwsr.kernels.spectral import estimate_covariance, gaussian_kernel
from rwsr.kernels.train import KernelGANSettings, train_batch
from rwsr.ops.degradation import add_gaussian_noise, anisotropic_gaussian_kernel, blur_subsample, jpeg_roundtrip

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket", "immunohistochemistry")
ANGLES = (0.0, 45.0, 90.0, 135.0)
RATIOS = (2.0, 3.0, 4.0, 6.0)
# Geometric mean of the two standard deviations (HR pixels): DIV2KRK's x2 blurs are about this wide.
MEAN_SIGMA = 1.2
HR_SIDE = 512


def load(name: str, side: int = HR_SIDE, orient: str | None = None) -> np.ndarray:
    """A photo's central square at side x side, float32 RGB. `orient` "transpose" swaps x and y
    (angles a -> 90 - a: 0 and 90 trade places), "mirror" flips x (a -> 180 - a: 45 and 135 trade
    places): a lean that comes from the photo turns with it, one that comes from the code does not."""
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    pixels = pixels[:, :, :3]
    square = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - square) // 2, (pixels.shape[1] - square) // 2
    pixels = cv2.resize(pixels[top : top + square, left : left + square], (side, side), interpolation=cv2.INTER_AREA)
    if orient == "transpose":
        pixels = pixels.transpose(1, 0, 2)
    elif orient == "mirror":
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels, dtype=np.float32) / 255.0


def battery_kernel(ratio: float, angle: float, scale: int = 2) -> np.ndarray:
    """A Gaussian with variance ratio `ratio`, its major axis at `angle` degrees, sigmas around
    MEAN_SIGMA (x2; stretched by scale / 2 at x4, as DIV2KRK's x4 kernels)."""
    major, minor = (MEAN_SIGMA * scale / 2 * ratio**e for e in (0.25, -0.25))
    return anisotropic_gaussian_kernel(13 if scale == 2 else 29, major, minor, math.radians(angle), scale=scale)


@dataclass(frozen=True)
class Degradation:
    """How the battery's LR images are made from the HR photo: blur and subsample at `scale`, then
    (as real LR) Gaussian noise of std `noise` drawn per channel, then JPEG at `jpeg` (None: none)."""

    scale: int = 2
    noise: float = 0.0
    jpeg: int | None = None

    def apply(self, hr: np.ndarray, kernel: np.ndarray, seed: int) -> np.ndarray:
        lr = blur_subsample(hr, kernel, self.scale)
        if self.noise > 0:
            lr = add_gaussian_noise(lr, self.noise, np.random.default_rng(seed))
        if self.jpeg is not None:
            lr = jpeg_roundtrip(np.clip(lr, 0, 1), self.jpeg)
        return lr


def estimate_kernels(lrs: list[np.ndarray], seeds: list[int], settings: KernelGANSettings, device: torch.device, batch: int,
             scale: int) -> list[np.ndarray]:
    """Each LR image's kernel at `scale` from the configured estimator (settings.estimator):
    KernelGAN trained `batch` images at a time (its x4 kernel composed from the x2 one), or the
    spectral fit."""
    if settings.estimator == "spectral":
        return [gaussian_kernel(scale * scale * estimate_covariance(lr, settings.spectral_tile).covariance, scale) for lr in lrs]
    kernels = []
    for start in range(0, len(lrs), batch):
        raw = train_batch(lrs[start : start + batch], seeds[start : start + batch], settings, device)
        kernels += [post_process(kernel, settings.keep_largest) for kernel in raw]
    return [compose_x4(kernel) for kernel in kernels] if scale == 4 else kernels


def cases(photos: list[str]) -> list[tuple[str, float, float]]:
    """(photo, ratio, angle): every photo at every angle; the ratio cycles so each photo and each
    angle meet several ratios."""
    return [(name, RATIOS[(PHOTOS.index(name) + a) % len(RATIOS)], angle) for name in photos for a, angle in enumerate(ANGLES)]


def psnr(a: np.ndarray, b: np.ndarray, border: int = 8) -> float:
    a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def score(hr: np.ndarray, lr: np.ndarray, truth: np.ndarray, estimate: np.ndarray, scale: int = 2) -> dict[str, float]:
    """Margin over bicubic (dB), angle error (degrees), axis-ratio error, for one estimate."""
    true_angle, true_ratio = kernel_shape(truth)
    angle, ratio = kernel_shape(estimate)
    margin = psnr(blur_subsample(hr, estimate, scale), lr) - psnr(blur_subsample(hr, bicubic_kernel(scale), scale), lr)
    return {"margin": margin, "angle": angle, "ratio": ratio, "angle_error": angle_difference(angle, true_angle),
            "ratio_error": ratio - true_ratio, "true_angle": true_angle, "true_ratio": true_ratio}


def run_battery(photos: list[str], seeds: int, settings: KernelGANSettings, device: torch.device, batch: int,
                orient: str | None = None, degradation: Degradation = Degradation()) -> list[dict]:
    hrs = {name: load(name, orient=orient) for name in photos}
    jobs = []
    for number, (name, ratio, angle) in enumerate(cases(photos)):
        truth = battery_kernel(ratio, angle, degradation.scale)
        lr = degradation.apply(hrs[name], truth, seed=number)
        for seed in range(seeds):
            # The training seed names the case too, so other batch sizes give the same kernels.
            jobs.append({"photo": name, "seed": seed, "truth": truth, "lr": lr, "train_seed": 1000 * len(jobs) + seed})
    kernels = estimate_kernels([job["lr"] for job in jobs], [job["train_seed"] for job in jobs], settings, device, batch, degradation.scale)
    for job, kernel in zip(jobs, kernels):
        job.update(score(hrs[job["photo"]], job["lr"], job["truth"], kernel, degradation.scale))
    return jobs


def report(jobs: list[dict]) -> None:
    print(f"\n{'photo':22s} {'seed':>4s} {'true ratio':>10s} {'angle':>6s} | {'est ratio':>9s} {'angle':>6s} | "
          f"{'margin dB':>9s} {'angle err':>9s} {'ratio err':>9s}")
    for job in jobs:
        print(f"{job['photo']:22s} {job['seed']:4d} {job['true_ratio']:10.2f} {job['true_angle']:6.0f} | {job['ratio']:9.2f} "
              f"{job['angle']:6.0f} | {job['margin']:+9.2f} {job['angle_error']:9.1f} {job['ratio_error']:+9.2f}")
    errors = np.array([job["angle_error"] for job in jobs if job["true_ratio"] >= 1.95])  # 2 after the 13-px truncation
    print(f"\nmedian angle error (true ratio >= 2): {np.median(errors):.1f} deg; mean {errors.mean():.1f}; "
          f"within 20 deg: {np.mean(errors <= 20):.0%} of {errors.size}")
    for angle in ANGLES:
        sub = [job["angle_error"] for job in jobs if angle_difference(job["true_angle"], angle) < 1]
        print(f"  true angle {angle:3.0f}: median angle error {np.median(sub):5.1f} deg over {len(sub)} runs")
    # A lean: where the estimates point, whatever the truth (uniform angles would give 25% per bin).
    bins = np.histogram([(job["angle"] + 22.5) % 180 for job in jobs], bins=4, range=(0, 180))[0]
    print("estimated angles near 0 / 45 / 90 / 135: " + " / ".join(f"{n / len(jobs):.0%}" for n in bins))
    margins = np.array([job["margin"] for job in jobs])
    ratios = np.array([job["ratio_error"] for job in jobs])
    print(f"mean margin over bicubic: {margins.mean():+.2f} dB (min {margins.min():+.2f}); "
          f"mean axis-ratio error {ratios.mean():+.2f} (estimates / truth: {np.mean([j['ratio'] / j['true_ratio'] for j in jobs]):.2f})")


def speed(settings: KernelGANSettings, device: torch.device, photos: list[str]) -> None:
    count = len(photos)
    lrs = [blur_subsample(load(name), battery_kernel(4.0, 45.0), 2) for name in photos]

    def timed(images, seeds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_batch(images, seeds, settings, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    train_batch(lrs[:1], [0], KernelGANSettings.from_config(iterations=5), device)  # warm-up
    single = [timed([lr], [s]) for s, lr in enumerate(lrs)]
    batched = timed(lrs, list(range(count)))
    print(f"\none by one: {np.mean(single):.1f} s per image ({settings.iterations} iterations, {torch.get_num_threads()} thread(s))")
    print(f"batched ({count} images in one run): {batched / count:.1f} s per image; speed-up x{sum(single) / batched:.2f}")


def size_battery(photos: list[str], settings: KernelGANSettings, device: torch.device, batch: int,
                 degradation: Degradation = Degradation()) -> None:
    """Does the estimate's size follow the truth? Isotropic blurs of sigma 0.8, 1.2, 1.6 (x2; twice
    that at x4) on each photo: a size-aware estimator's variance grows with the truth's (slope 1);
    one that settles at a size of its own has a flat slope, whatever its margin over bicubic."""
    scale = degradation.scale
    sigmas = tuple(s * scale / 2 for s in (0.8, 1.2, 1.6))
    jobs = [(name, sigma, anisotropic_gaussian_kernel(13 if scale == 2 else 29, sigma, sigma, 0.0, scale=scale))
            for name in photos for sigma in sigmas]  # fmt: skip
    hrs = {name: load(name) for name in photos}
    lrs = [degradation.apply(hrs[name], truth, seed=number) for number, (name, _, truth) in enumerate(jobs)]
    estimates = estimate_kernels(lrs, [1000 * number for number in range(len(jobs))], settings, device, batch, scale)
    truths = np.array([kernel_spread(truth) for _, _, truth in jobs])
    found = np.array([kernel_spread(estimate) for estimate in estimates])
    for (name, sigma, _), true_var, est_var in zip(jobs, truths, found):
        print(f"{name:22s} sigma {sigma:.1f}: true variance {true_var:5.2f}, estimated {est_var:5.2f} (x{est_var / true_var:.2f})")
    slope = np.polyfit(truths, found, 1)[0]
    print(f"slope of estimated on true variance: {slope:.2f} (1 = follows the size; 0 = ignores it)")


def discrimination(photo: str, angle: float, settings: KernelGANSettings, device: torch.device) -> None:
    """How well D tells real LR crops from G's outputs when G is frozen to a given kernel: the
    true one, the true one turned 90 degrees, an isotropic one, bicubic. A D that sees the blur
    ends with a loss near 0.5 for the true kernel and clearly lower for the wrong ones."""
    from unittest import mock

    from rwsr.kernels.kernel_ops import pad_to
    from rwsr.nn.kernelgan import KernelGenerator

    hr = load(photo)
    truth = battery_kernel(4.0, angle)
    lr = blur_subsample(hr, truth, 2)
    candidates = {"true": truth, "turned 90": battery_kernel(4.0, angle + 90.0),
                  "isotropic": battery_kernel(1.0, 0.0), "bicubic": pad_to(bicubic_kernel(2), 13)}
    for name, kernel in candidates.items():
        fixed = torch.from_numpy(np.ascontiguousarray(kernel))[None].to(device)
        losses = []
        # G's weights get a zero gradient (Adam leaves them), so only D trains.
        with mock.patch.object(KernelGenerator, "kernels", lambda self, k=fixed: k + 0.0 * self.weights[0].sum()):
            train_batch([lr], [0], settings, device, on_log=lambda b, step, values: losses.append(values["loss_d"]))
        print(f"{photo}, true angle {angle:.0f}, G frozen to the {name:9s} kernel: D loss {np.mean(losses[-40:]):.3f} (last 400 iterations)")


def gaussian_g(photos: list[str], settings: KernelGANSettings, device: torch.device, lr: float) -> None:
    """Does D's signal alone carry the blur's size? G reduced to a Gaussian (3 parameters: its
    covariance's Cholesky factor, centred on the x2 grid, so no prior is needed) trained against
    rwsr's D on the size battery's blurs plus ratio-4 blurs at 45 and 90 degrees, at a constant
    learning rate `lr` (no decay: a signal that settles shows as a plateau). A D that sees the size
    drives each estimate towards its truth's variance; one that sees the content drives all blurs
    of one photo alike."""
    import torch.nn.functional as F

    from rwsr.kernels.train import build, discriminator_step, feed_data
    from rwsr.ops.degradation import grid_offset

    cases = [(name, f"iso {s}", anisotropic_gaussian_kernel(13, s, s, 0.0, scale=2)) for name in photos for s in (0.8, 1.2, 1.6)]
    cases += [(name, f"ratio 4 at {a:.0f}", battery_kernel(4.0, a)) for name in photos for a in (45.0, 90.0)]
    hrs = {name: load(name) for name in photos}
    count = len(cases)
    state, data = build([blur_subsample(hrs[name], truth, 2) for name, _, truth in cases],
                        [1000 * i for i in range(count)], settings, device, settings.crop, torch.float32)  # fmt: skip
    taps = torch.arange(13, dtype=torch.float32, device=device) - 6 - grid_offset(2)
    rows, cols = torch.meshgrid(taps, taps, indexing="ij")
    params = torch.zeros(count, 3, device=device, requires_grad=True)  # log sigma_x, log sigma_y, shear: sigma 1 start
    opt = torch.optim.Adam([params], lr=lr, betas=(settings.beta1, 0.999))

    def kernels() -> torch.Tensor:
        a, b, c = params[:, 0].exp(), params[:, 1].exp(), params[:, 2]
        xx, xy, yy = a * a, a * c, c * c + b * b  # covariance L L^T, L = [[a, 0], [c, b]], x first
        det = (xx * yy - xy * xy)[:, None, None]
        quad = (yy[:, None, None] * cols**2 - 2 * xy[:, None, None] * cols * rows + xx[:, None, None] * rows**2) / det
        k = torch.exp(-0.5 * quad)
        return k / k.sum(dim=(1, 2), keepdim=True)

    def variances() -> list[float]:
        return [kernel_spread(k) for k in kernels().detach().cpu().numpy()]

    print(f"{'step':>5s} " + " ".join(f"{name[:5]}:{label.split()[-1]:>4s}" for name, label, _ in cases))
    for step in range(settings.iterations):
        g_in, real = feed_data(data, step)
        fake_d = F.conv2d(g_in, kernels().unsqueeze(1), stride=2, groups=count).transpose(0, 1)
        state.D.requires_grad_(False)
        loss = (1.0 - state.D(fake_d)).abs().mean(dim=(1, 2)).sum()
        state.D.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        discriminator_step(state, data, real, fake_d)
        if step % (settings.iterations // 4) == 0:
            print(f"{step:5d} " + " ".join(f"{v:10.2f}" for v in variances()))
    for (name, label, truth), estimate in zip(cases, kernels().detach().cpu().numpy()):
        true_angle, true_ratio = kernel_shape(truth)
        angle, ratio = kernel_shape(estimate)
        print(f"{name:22s} {label:14s} variance true {kernel_spread(truth):5.2f} estimated {kernel_spread(estimate):6.2f}"
              f" | angle error {angle_difference(angle, true_angle):4.0f} deg, axis ratio {ratio:.2f} (true {true_ratio:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the paper's 3000 iterations")
    parser.add_argument("--iterations", type=int, help="override the iteration count")
    parser.add_argument("--photos", type=int, default=3, help="how many photos, in PHOTOS order (at most 6)")
    parser.add_argument("--photo-names", nargs="+", choices=PHOTOS, help="these photos instead of the first --photos")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="KernelGAN settings to override (e.g. weight_sparsity=5)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per case")
    parser.add_argument("--batch", type=int, default=8, help="images trained together (memory; results do not depend on it beyond rounding)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--orient", choices=("transpose", "mirror"), help="swap each photo's x and y, or flip its x (see load)")
    parser.add_argument("--speed", action="store_true", help="time one image at a time and batched instead of the battery")
    parser.add_argument("--size", action="store_true", help="instead of the battery: isotropic blurs of three sizes per photo")
    parser.add_argument("--discrimination", type=float, metavar="ANGLE",
                        help="instead of the battery: D's loss against G frozen to the true and to wrong kernels (first photo)")
    parser.add_argument("--gaussian-g", action="store_true",
                        help="instead of the battery: a 3-parameter Gaussian G against rwsr's D (does D's signal carry the size?)")
    parser.add_argument("--gaussian-lr", type=float, default=3e-4, help="--gaussian-g's Adam learning rate (constant)")
    parser.add_argument("--estimator", choices=("kernelgan", "spectral"), default="kernelgan",
                        help="the battery's and --size's estimator (config key kernels.estimator)")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=2, help="battery and --size: LR at x2 or x4 (blurs twice as wide)")
    parser.add_argument("--noise", type=float, default=0.0, help="battery and --size: Gaussian noise std added to the LR per channel")
    parser.add_argument("--jpeg", type=int, help="battery and --size: JPEG quality the LR is compressed at last")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    iterations = args.iterations or (3000 if args.full else 1000)
    # KEY=VALUE read as YAML (5, 0.5, true), then checked by the schema like any config value.
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings = KernelGANSettings.from_config(iterations=iterations, estimator=args.estimator, **overrides)
    degradation = Degradation(args.scale, args.noise, args.jpeg)
    photos = args.photo_names or list(PHOTOS[: args.photos])
    if args.speed:
        speed(settings, device, photos)
        return
    if args.size:
        size_battery(photos, settings, device, args.batch, degradation)
        return
    if args.gaussian_g:
        gaussian_g(photos, settings, device, args.gaussian_lr)
        return
    if args.discrimination is not None:
        discrimination(photos[0], args.discrimination, settings, device)
        return
    print(f"Anisotropy battery ({args.estimator}): {', '.join(photos)} x {len(ANGLES)} angles x {args.seeds} seeds, "
          f"{args.orient + ', ' if args.orient else ''}HR {HR_SIDE} -> LR {HR_SIDE // args.scale} ({degradation}), "
          f"{iterations} iterations, device {device}, {torch.get_num_threads()} thread(s)")
    start = time.perf_counter()
    print(f"settings: {settings}")
    jobs = run_battery(photos, args.seeds, settings, device, args.batch, args.orient, degradation)
    report(jobs)
    print(f"{time.perf_counter() - start:.0f} s in all ({len(jobs)} runs)")


if __name__ == "__main__":
    main()
