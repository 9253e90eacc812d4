"""Image operations shared by several stages: resizing and the degradation model."""
