"""The pairs stage: clean HR -> blur with a pooled kernel -> subsample -> realistic noise -> LR."""
