"""The degrader stage: DSGAN (Fritsche et al., ICCVW 2019) learns to turn clean bicubic LR images
into images that look like the real LR photos, by matching only their high frequencies.

Modules: `frequency` (low/high-pass split, also used for scoring), `train` (the training loop),
`apply` (inference on images of any size), `cli` (`rwsr train-degrader`, `rwsr degrade`).
"""
