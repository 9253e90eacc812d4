"""Networks: one module per architecture family, plus the pretrained-weights policy."""
