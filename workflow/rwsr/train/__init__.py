"""Training infrastructure shared by the KernelGAN, DSGAN, ESRGAN and BebyGAN trainers."""
