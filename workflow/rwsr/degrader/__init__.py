"""The degrader stage: DSGAN (Fritsche et al., ICCVW 2019) learns to turn clean LR images (HR
blurred with the pool's kernels, or bicubic LR: config key degrader.source) into images that look
like the real LR photos, by matching only their high frequencies.

Modules: `train` (the training loop; the low/high-pass split is `rwsr.ops.frequency`, shared with
the sr stage's ESRGAN-FS losses),
`apply` (inference on images of any size), `cli` (`rwsr train-degrader`, `rwsr degrade`).
"""
