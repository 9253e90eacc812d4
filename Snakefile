# rwsr: real-world super-resolution as a Snakemake DAG. See README.md (usage) and its Conventions section.
# Stages, in pipeline order: data, kernels, degrader, pairs, sr, evaluate.

import os

from snakemake.utils import min_version

from rwsr.config import load_config
from rwsr.evaluate.summary import summary_text

min_version("9.0")


configfile: "config.yaml"


# Landing text of `snakemake --report report.html`.
report: "workflow/report/workflow.rst"


# envs/rwsr.yaml installs this checkout (pip -e ${RWSR_CHECKOUT}) when --sdm conda builds it.
os.environ.update(RWSR_CHECKOUT=str(workflow.current_basedir))


# Validated against workflow/schemas/config.schema.yaml through rwsr.config (the same code the
# `rwsr` CLI uses), which fills defaults and names the offending key before any job runs.
config.update(load_config(config))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/kernels.smk"
include: "workflow/rules/degrader.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/sr.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        get_final_targets(),


onsuccess:
    print(summary_text(RESULTS))
