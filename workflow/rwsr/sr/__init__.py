"""The sr stage: train an SR GAN (ESRGAN; BebyGAN on the same loop) on a pair set, and apply it.

Modules: data (in-memory pairs, aligned crops), losses (per-model generator losses),
train (settings and the one training loop), upscale (generator files, tiled inference), cli.
"""
