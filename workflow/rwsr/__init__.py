"""rwsr: real-world image super-resolution as a Snakemake pipeline.

Stages (one subpackage each): data, kernels (KernelGAN), degrader (DSGAN), pairs, sr, evaluate.
Shared helpers: io/ (image files, atomic writes), ops/ (resize, degradation), nn/ (networks),
train/ (checkpoints, GAN steps, guards). ARCHITECTURE.md maps them all.
"""

__version__ = "0.1.0"
