"""The kernels stage: KernelGAN blur-kernel estimation on the real LR images, and the kernel pool.

Kernel convention (rwsr.ops.degradation): a kernel k at scale s models LR = blur_subsample(HR, k, s),
a CORRELATION (cv2.filter2D) then keeping pixels [0::s, 0::s]; kernels are float32, odd-sized,
sum 1, with their centre of mass (s-1)/2 pixels right of and below the middle (bicubic's grid).
KernelGAN's generator is a correlation chain, whose correlation kernel is its layers' kernels
convolved together (rwsr.nn.kernelgan.KernelGenerator.kernels).

- rwsr.kernels.estimate.run_kernelgan(inputs, outdirs, config, iterations=None): files in, folders out.
- rwsr.kernels.train.train_batch(images, seeds, settings, device): raw kernels of B images at once.
- rwsr.kernels.kernel_ops: post_process (raw -> pipeline kernel), compose_x4, bicubic_kernel,
  kernel_shape (major-axis angle and axis ratio from second moments).
- rwsr.kernels.crops: where G and D crop, and edge_evidence (an image's kernel confidence).
- rwsr.kernels.pool: write_pool / load_pool / load_pool_weights (results/kernels/pool.npz, with
  per-kernel confidence and draw weights), kernel_picture.
"""
