# Shared by every stage file: the image table, wildcard constraints and input functions.

import re
from pathlib import Path

from rwsr.config import stage_settings
from rwsr.data.sets import active_datasets, source_images, uses_demo

DATA = "results/data"
DEMO_ROOT = f"{DATA}/demo"

# set name -> image stem -> source file; discovered once, when the DAG is built.
IMAGES = source_images(config, DEMO_ROOT)


def alternatives(names):
    return "|".join(re.escape(name) for name in sorted(names))


wildcard_constraints:
    dataset=alternatives(active_datasets(config)),
    image=alternatives({stem for members in IMAGES.values() for stem in members}),


def settings(*sections):
    """Config sections as canonical JSON for params (a change re-runs exactly that stage and its dependents)."""
    return stage_settings(config, *sections)


def parent(path):
    """The folder of a file: stage commands take folders, rules name files."""
    return str(Path(path).parent)


def is_demo_file(path):
    return Path(path).is_relative_to(DEMO_ROOT)


def get_prepared(dataset):
    return expand(f"{DATA}/{dataset}/{{image}}.png", image=sorted(IMAGES[dataset]))


def get_bicubic_lr():
    return expand(f"{DATA}/hr_bicubic_x{config['scale']}/{{image}}.png", image=sorted(IMAGES["hr"]))


def get_final_targets():
    """What `snakemake` builds by default: the furthest stage of the pipeline."""
    return get_bicubic_lr()
