"""The data stage: resolve input folders (or build the demo set), validate and normalise
every image once, and write the bicubic LR of the clean HR images."""
