# Shared by every stage file: the paths, the image table, wildcard constraints and input functions.

import hashlib
import re
import shlex
from pathlib import Path

from rwsr.config import kernel_stage_settings, load_schema, stage_settings
from rwsr.data.sets import active_datasets, source_images, uses_demo
from rwsr.evaluate import reference_folders
from rwsr.sr import inference_section, training_section

# Every path the rules share: each stage's folder under results/, and each file one rule writes and
# another reads. A rule names its other outputs from these; shell lines take paths only from a
# rule's input, output or params, quoted with :q (a ready-made flag comes quoted, by shlex.join).
RESULTS = "results"
DATA = f"{RESULTS}/data"
DEMO_ROOT = f"{DATA}/demo"
KERNELS = f"{RESULTS}/kernels"
KERNEL_POOL = f"{KERNELS}/pool.npz"
DEGRADER = f"{RESULTS}/degrader"
DEGRADER_MODEL = f"{DEGRADER}/dsgan.pt"
DEGRADER_LOG = f"{DEGRADER}/log.csv"
PAIRS = f"{RESULTS}/pairs"  # the pipeline's pairs; the ablation and oracle sets sit beside it
PAIRS_BICUBIC = f"{RESULTS}/pairs_bicubic"
PAIRS_ORACLE = f"{RESULTS}/pairs_oracle"
SR = f"{RESULTS}/sr"
EVALUATE = f"{RESULTS}/evaluate"
REFERENCE_STATS = f"{EVALUATE}/reference_stats.npz"
BICUBIC_UPSCALE = f"{EVALUATE}/bicubic-upscale/val"
SCORE_TABLE = f"{RESULTS}/fid.csv"

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


# Jobs that can train on a GPU ask for one (resources gpu=GPU_JOB), so the SLURM profile
# gets it one, and a local run keeps one such job at a time where torch sees CUDA (profiles/default).
# device: cpu asks for none anywhere.
GPU_JOB = 0 if config["device"] == "cpu" else 1
# Torch threads of every training job (KernelGAN, DSGAN, SR), from the config (key `threads`), never
# from --cores: float reductions split over another number of threads give other weights, and a
# KernelGAN run amplifies that, so a laptop, a workstation and a cluster job would disagree. At 1,
# the demo's trainings run side by side on a 2-core CPU; `--set-threads sr_train=8` overrides it.
TRAINING_THREADS = config["threads"]


def parent(path):
    """The folder of a file: stage commands take folders, rules name files."""
    return str(Path(path).parent)


def kept_networks(output, settings):
    """The folder a training rule hard-links its finished networks into, named by a hash of the
    settings that made them. A config change re-runs the training, and Snakemake deletes the old
    outputs first; the links keep the networks it supersedes. (protected() would instead make
    Snakemake refuse that re-run, breaking the params trigger.)"""
    return f"{parent(output)}/trained/{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def is_demo_file(path):
    return Path(path).is_relative_to(DEMO_ROOT)


def get_prepared(dataset):
    return expand(f"{DATA}/{dataset}/{{image}}.png", image=sorted(IMAGES[dataset]))


def get_prepare_sources(wildcards):
    """One image's source file; a val_hr image also reads its prepared validation LR image, which it
    must be exactly `scale` times."""
    sources = {"source": str(IMAGES[wildcards.dataset][wildcards.image])}
    if wildcards.dataset == "val_hr":
        sources["lr_partner"] = f"{DATA}/val_lr/{wildcards.image}.png"
    return sources


def optional_flag(input, key, flag, folder=False):
    """`flag <the input named key>` (with folder=True, the folder of its first file), quoted for a
    shell line; "" when the input function left that input out or gave it no files."""
    files = input[key] if key in input.keys() else []
    if not files:
        return ""
    path = files if isinstance(files, str) else files[0]
    return shlex.join([flag, parent(path) if folder else path])


def prepare_settings():
    """Preparing an image reads only data.min_lr_side (and the scale): editing another data key, or
    adding an image, leaves every other image's job alone."""
    return stage_settings({**config, "data": {"min_lr_side": config["data"]["min_lr_side"]}}, "data")


def manifest_settings(wildcards):
    """A set's manifest reads only its own folder (data.<set>: the skipped entries it lists)."""
    return stage_settings({**config, "data": {wildcards.dataset: config["data"][wildcards.dataset]}}, "data")


def get_manifest_rows(wildcards):
    return expand(f"{DATA}/rows/{wildcards.dataset}/{{image}}.csv", image=sorted(IMAGES[wildcards.dataset]))


def get_bicubic_lr():
    return expand(f"{DATA}/hr_bicubic_x{config['scale']}/{{image}}.png", image=sorted(IMAGES["hr"]))


REAL_LR_MANIFEST = f"{DATA}/real_lr.csv"
# The demo's hidden degradation (true kernels, noise, JPEG): known only when the demo builds the real LR.
HIDDEN_DEGRADATION = f"{DEMO_ROOT}/degradations.csv" if config["data"]["real_lr"] == "demo" else None


def common_pair_sources():
    """What every pair set reads: the clean HR, and the real LR it is measured against (fidelity.csv)."""
    sources = {"hr": get_prepared("hr"), "real_lr": get_prepared("real_lr"), "real_lr_manifest": REAL_LR_MANIFEST}
    return sources | ({"truth": HIDDEN_DEGRADATION} if HIDDEN_DEGRADATION else {})


def get_pair_sources(wildcards):
    """Inputs of the pipeline's pairs: the common ones plus what pairs.kernel and pairs.noise need."""
    sources = common_pair_sources()
    if config["pairs"]["kernel"] == "pool":
        sources["kernel_pool"] = KERNEL_POOL
    if config["pairs"]["noise"] == "dsgan":
        sources["degrader"] = DEGRADER_MODEL
    return sources


def pair_source_flags(input):
    """rwsr make-pairs flags for the inputs that get_pair_sources or common_pair_sources chose."""
    flags = [
        shlex.join(["--hr", parent(input.hr[0]), "--real-lr", parent(input.real_lr[0]),
                    "--real-lr-manifest", input.real_lr_manifest]),
        optional_flag(input, "kernel_pool", "--kernel-pool"),
        optional_flag(input, "degrader", "--degrader"),
        optional_flag(input, "truth", "--true-kernels"),
    ]  # fmt: skip
    return " ".join(flag for flag in flags if flag)


def get_kernel_lr():
    """Clean LR of the HR images blurred with the pool's kernels (rule degrader_source)."""
    return expand(f"{DEGRADER}/source/{{image}}.png", image=sorted(IMAGES["hr"]))


def get_degrader_source():
    """The clean LR the degrader learns from: the kind the pipeline's pairs degrade (degrader.source)."""
    return get_kernel_lr() if config["degrader"]["source"] == "kernel" else get_bicubic_lr()


def pipeline_pair_settings():
    """The pipeline pairs' params: the pairs section, plus the degrader's input domain it must match."""
    return stage_settings({**config, "degrader": {"source": config["degrader"]["source"]}}, "pairs", "degrader")


def degrader_settings():
    """The degrader's params: its section, the compression its discriminator sees (pairs.jpeg_quality)
    and the pairs' blur that its source must match (pairs.kernel)."""
    pairs = {key: config["pairs"][key] for key in ("jpeg_quality", "kernel")}
    return stage_settings({**config, "pairs": pairs}, "degrader", "pairs")


def sr_train_settings(wildcards):
    """A training's params: the sr keys its model reads (rwsr.sr.training_section), so editing a
    BebyGAN-only key or the tiling leaves ESRGAN trainings alone."""
    return stage_settings({**config, "sr": training_section(config["sr"], wildcards.model)}, "sr")


def upscale_settings():
    """Upscaling's params: the tiling; training keys reach it through the model file."""
    return stage_settings({**config, "sr": inference_section(config["sr"])}, "sr")


def bicubic_pair_settings():
    """The bicubic ablation pairs share tiling with the pipeline pairs but ignore pairs.kernel,
    pairs.noise and pairs.jpeg_quality, so changing those re-runs only the pipeline branch."""
    pairs = {**config["pairs"], "kernel": "bicubic", "noise": "none", "jpeg_quality": "none"}
    return stage_settings({**config, "pairs": pairs}, "pairs")


def oracle_pair_settings():
    """The oracle pairs take their degradation from the hidden truth: only tiling and sampling count."""
    pairs = {key: config["pairs"][key] for key in ("tile", "samples_per_image")}
    return stage_settings({**config, "pairs": pairs}, "pairs")


REAL_LR = sorted(IMAGES["real_lr"])


def kernel_outputs(image):
    """One image's files; kernel_x4.npy only at scale 4. confidence.json weighs its kernel in the pool."""
    names = [
        "kernel_x2.npy",
        *(["kernel_x4.npy"] if config["scale"] == 4 else []),
        "kernel.png",
        "log.csv" if config["kernels"]["estimator"] == "kernelgan" else "fit.json",
        "confidence.json",
    ]
    return [f"{KERNELS}/{image}/{name}" for name in names]


# --- sr ---

# Variant -> pair set folder (written by the pairs stage, with lr/, hr/ and pairs.csv). The oracle's
# pairs carry the hidden degradation, so it exists only when that is known (the demo's real LR).
SR_PAIR_SETS = {"pipeline": PAIRS, "bicubic-pairs": PAIRS_BICUBIC}
if HIDDEN_DEGRADATION:
    SR_PAIR_SETS["oracle-pairs"] = PAIRS_ORACLE
# Generator -> the file sr_train writes for it: the PSNR phase's (the clean test of the pairs) and the final one.
GENERATOR_FILES = {"psnr": "generator_psnr.pt", "final": "generator.pt"}


wildcard_constraints:
    model=alternatives(load_schema()["properties"]["sr"]["properties"]["model"]["enum"]),
    variant=alternatives(SR_PAIR_SETS),
    generator=alternatives(GENERATOR_FILES),


def get_pairs(wildcards):
    """The pair set's manifest: its image names are the pairs stage's choice, so the folder is passed on."""
    return f"{SR_PAIR_SETS[wildcards.variant]}/pairs.csv"


# --- evaluate ---

# (model, variant, generator) rows of the table: both generators of the SR model on every pair
# set, and plain bicubic upscaling (generator "none").
EVALUATED = [
    (config["sr"]["model"], variant, generator) for variant in SR_PAIR_SETS for generator in GENERATOR_FILES
] + [("bicubic", "bicubic-upscale", "none")]
REFERENCE_SETS = [folder.name for folder in reference_folders(config, DATA)]


def training_file(model, variant, name):
    """A file (or folder) of one training's output folder; sr_train and sr_upscale name theirs with
    wildcards, training_file("{model}", "{variant}", ...), as the readers name them with values."""
    return f"{SR}/{model}/{variant}/{name}"


def sr_outputs(model, variant, generator):
    """The folder of super-resolved validation images of one row."""
    if variant == "bicubic-upscale":
        return BICUBIC_UPSCALE
    return training_file(model, variant, f"val_{generator}")


def get_evaluated_outputs(wildcards):
    return sr_outputs(wildcards.row_model, wildcards.row_variant, wildcards.row_generator)


def generator_file(model, variant, generator):
    """The file sr_train writes for one of a training's generators."""
    return training_file(model, variant, GENERATOR_FILES[generator])


def get_generator_file(wildcards):
    return generator_file(wildcards.model, wildcards.variant, wildcards.generator)


def get_evaluated_generator(wildcards):
    """The generator file behind a row (none for bicubic upscaling): it says which VGG19 trained it."""
    if wildcards.row_variant == "bicubic-upscale":
        return []
    return generator_file(wildcards.row_model, wildcards.row_variant, wildcards.row_generator)


def get_ground_truth():
    return get_prepared("val_hr") if "val_hr" in IMAGES else []


def score_row(model, variant, generator):
    """The CSV of one row of the score table (evaluate_score names its output with wildcards)."""
    return f"{EVALUATE}/rows/{model}__{variant}__{generator}.csv"


def get_score_rows():
    return [score_row(model, variant, generator) for model, variant, generator in EVALUATED]


def get_compare_rows():
    """Column label -> SR validation folder of each final model (and bicubic), for the report's crop comparison."""
    return {
        (variant if model == "bicubic" else f"{model} {variant}"): sr_outputs(model, variant, generator)
        for model, variant, generator in sorted(EVALUATED, key=lambda row: row[1] != "bicubic-upscale")
        if generator != "psnr"
    }


# KernelGAN runs of different images look alike; a few panels show it, a hundred would bury the rest.
CURVE_KERNEL_IMAGES = 3


def get_loss_logs():
    """Subplot title -> training log for the report's loss curves: both SR variants, plus the
    degrader and KernelGAN logs only when the pairs use them (else plotting would train them)."""
    model = config["sr"]["model"]
    logs = {f"{model} {variant}": training_file(model, variant, "loss.csv") for variant in SR_PAIR_SETS}
    if config["pairs"]["noise"] == "dsgan":
        logs["DSGAN degrader"] = DEGRADER_LOG
    if config["pairs"]["kernel"] == "pool" and config["kernels"]["estimator"] == "kernelgan":
        logs.update({f"KernelGAN {image}": f"{KERNELS}/{image}/log.csv" for image in REAL_LR[:CURVE_KERNEL_IMAGES]})
    return logs


def get_kernel_figure_sources(wildcards):
    """The report's kernel figure: every image's estimated kernel, the kernel errors (the pipeline
    pairs' fidelity.csv) and, when known, the table beside the hidden true kernels."""
    sources = {"kernels": [f"{KERNELS}/{image}/kernel_x{config['scale']}.npy" for image in REAL_LR],
               "fidelity": f"{PAIRS}/fidelity.csv"}  # fmt: skip
    return sources | ({"truth": HIDDEN_DEGRADATION} if HIDDEN_DEGRADATION else {})


def get_degradation_columns():
    """Column label -> LR tiles of each pair set, for the report's degradation figure (the tiles of
    one HR crop share a name across the sets)."""
    labels = {"bicubic-pairs": "clean LR (bicubic)", "pipeline": "synthesized LR (pipeline)",
              "oracle-pairs": "true degradation (oracle)"}  # fmt: skip
    return {labels[variant]: f"{SR_PAIR_SETS[variant]}/lr" for variant in labels if variant in SR_PAIR_SETS}


def get_report_figures():
    """The figures the HTML report shows; the kernel figure only where the pairs use the pool
    (otherwise drawing it would run KernelGAN for nothing else)."""
    figures = [f"{EVALUATE}/comparison.png", f"{EVALUATE}/loss_curves.png", f"{EVALUATE}/degradation.png"]
    return figures + ([f"{EVALUATE}/kernels.png"] if config["pairs"]["kernel"] == "pool" else [])


def get_final_targets():
    """What `snakemake` builds by default: the score table at the end of the pipeline, every
    set's data manifest and the report's figures."""
    return [SCORE_TABLE, *expand(f"{DATA}/{{dataset}}.csv", dataset=sorted(IMAGES)), *get_report_figures()]
