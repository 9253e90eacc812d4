"""The degrader stage: DSGAN (Fritsche et al., ICCVW 2019) learns to turn clean LR images (HR
blurred with the pool's kernels, or bicubic LR: config key degrader.source) into images that look
like the real LR photos, by matching only their high frequencies.

Modules: `frequency` (low/high-pass split, also used for scoring), `train` (the training loop),
`apply` (inference on images of any size), `cli` (`rwsr train-degrader`, `rwsr degrade`).
"""
