"""File boundaries: image discovery, reading, writing, and atomic output."""
