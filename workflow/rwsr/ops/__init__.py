"""Image operations shared by several stages: resizing, the degradation model, JPEG, noise-level
estimation and the low/high frequency split (DSGAN's discriminator, ESRGAN-FS's losses)."""
