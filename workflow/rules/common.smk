# Shared by every stage file: the image table, wildcard constraints and input functions.

import re
import shlex
from pathlib import Path
from types import SimpleNamespace as Namespace

from rwsr.config import load_schema, stage_settings
from rwsr.data.sets import active_datasets, source_images, uses_demo
from rwsr.evaluate import reference_folders
from rwsr.sr import inference_section, training_section

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


def get_pair_sources(wildcards):
    """Inputs of the pairs stage: the clean HR images plus what pairs.kernel and pairs.noise need."""
    sources = {"hr": get_prepared("hr")}
    if config["pairs"]["kernel"] == "pool":
        sources["kernel_pool"] = "results/kernels/pool.npz"
    if config["pairs"]["noise"] == "dsgan":
        sources["degrader"] = "results/degrader/dsgan.pt"
    if config["pairs"]["noise"] == "patches":
        sources["real_lr"] = get_prepared("real_lr")
    return sources


def pair_source_flags(input):
    """rwsr make-pairs flags for the inputs that get_pair_sources chose."""
    flags = ["--hr", parent(input.hr[0])]
    if "kernel_pool" in input.keys():
        flags += ["--kernel-pool", input.kernel_pool]
    if "degrader" in input.keys():
        flags += ["--degrader", input.degrader]
    if "real_lr" in input.keys():
        flags += ["--real-lr", parent(input.real_lr[0])]
    return shlex.join(flags)


def sr_train_settings(wildcards):
    """A training's params: the sr keys its model reads (rwsr.sr.training_section), so editing a
    BebyGAN-only key or the tiling leaves ESRGAN trainings alone."""
    return stage_settings({**config, "sr": training_section(config["sr"], wildcards.model)}, "sr")


def upscale_settings():
    """Upscaling's params: the tiling; training keys reach it through the model file."""
    return stage_settings({**config, "sr": inference_section(config["sr"])}, "sr")


def bicubic_pair_settings():
    """The bicubic ablation pairs share tiling with the pipeline pairs but ignore pairs.kernel and
    pairs.noise, so changing those re-runs only the pipeline branch."""
    pairs = {**config["pairs"], "kernel": "bicubic", "noise": "none"}
    return stage_settings({**config, "pairs": pairs}, "pairs")


# --- kernels ---
KERNELS = "results/kernels"
REAL_LR = sorted(IMAGES["real_lr"])


def kernel_outputs(image):
    """One image's files; kernel_x4.npy only at scale 4."""
    names = ["kernel_x2.npy", *(["kernel_x4.npy"] if config["scale"] == 4 else []), "kernel.png", "log.csv"]
    return [f"{KERNELS}/{image}/{name}" for name in names]


# --- sr ---

# Variant -> pair set folder (written by the pairs stage, with lr/, hr/ and pairs.csv).
SR_PAIR_SETS = {"pipeline": "results/pairs", "bicubic-pairs": "results/pairs_bicubic"}


wildcard_constraints:
    model=alternatives(load_schema()["properties"]["sr"]["properties"]["model"]["enum"]),
    variant=alternatives(SR_PAIR_SETS),


def get_pairs(wildcards):
    """The pair set's manifest: its image names are the pairs stage's choice, so the folder is passed on."""
    return f"{SR_PAIR_SETS[wildcards.variant]}/pairs.csv"


# --- evaluate ---

# (model, variant) rows of the table: the SR model on both pair sets, and plain bicubic upscaling.
EVALUATED = [
    (config["sr"]["model"], "pipeline"),
    (config["sr"]["model"], "bicubic-pairs"),
    ("bicubic", "bicubic-upscale"),
]
REFERENCE_SETS = [folder.name for folder in reference_folders(config, DATA)]


def get_evaluated_outputs(wildcards):
    """The folder of super-resolved validation images a row scores."""
    if wildcards.row_variant == "bicubic-upscale":
        return "results/evaluate/bicubic-upscale/val"
    return f"results/sr/{wildcards.row_model}/{wildcards.row_variant}/val"


def get_ground_truth():
    return get_prepared("val_hr") if "val_hr" in IMAGES else []


def get_score_rows():
    return [f"results/evaluate/rows/{model}__{variant}.csv" for model, variant in EVALUATED]


def get_compare_rows():
    """Column label -> SR validation folder of each evaluated row, for the report's crop comparison."""
    return {
        (variant if model == "bicubic" else f"{model} {variant}"): get_evaluated_outputs(
            Namespace(row_model=model, row_variant=variant)
        )
        for model, variant in sorted(EVALUATED, key=lambda row: row[1] != "bicubic-upscale")
    }


def ground_truth_flag(input):
    """rwsr compare-crops flag for the validation HR folder, when the data set has one."""
    return shlex.join(["--ground-truth", parent(input.ground_truth[0])]) if input.ground_truth else ""


# KernelGAN runs of different images look alike; a few panels show it, a hundred would bury the rest.
CURVE_KERNEL_IMAGES = 3


def get_loss_logs():
    """Subplot title -> training log for the report's loss curves: both SR variants, plus the
    degrader and KernelGAN logs only when the pairs use them (else plotting would train them)."""
    model = config["sr"]["model"]
    logs = {f"{model} {variant}": f"results/sr/{model}/{variant}/loss.csv" for variant in SR_PAIR_SETS}
    if config["pairs"]["noise"] == "dsgan":
        logs["DSGAN degrader"] = "results/degrader/log.csv"
    if config["pairs"]["kernel"] == "pool":
        logs.update({f"KernelGAN {image}": f"{KERNELS}/{image}/log.csv" for image in REAL_LR[:CURVE_KERNEL_IMAGES]})
    return logs


def get_final_targets():
    """What `snakemake` builds by default: the score table at the end of the pipeline and the
    report's figures."""
    return ["results/fid.csv", "results/evaluate/comparison.png", "results/evaluate/loss_curves.png"]
