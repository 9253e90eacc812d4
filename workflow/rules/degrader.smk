# Degrader stage: DSGAN learns the real LR photos' high-frequency degradation from unpaired crops.
# Its source is the clean LR the pairs stage will degrade (degrader.source): HR blurred with the
# pool's kernels (kernel), so it learns only the noise, or bicubic LR (bicubic, the paper's mode).


rule degrader_source:
    input:
        hr=get_prepared("hr"),
        kernel_pool=KERNEL_POOL,
    output:
        get_kernel_lr(),
    log:
        "logs/degrader/source.log",
    benchmark:
        "benchmarks/degrader/source.tsv"
    params:
        settings=settings(),
        hr_dir=lambda wildcards, input: parent(input.hr[0]),
        outdir=lambda wildcards, output: parent(output[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr kernel-lr --hr {params.hr_dir:q} --kernel-pool {input.kernel_pool:q} --output {params.outdir:q}"
        " --config {params.settings:q} > {log:q} 2>&1"


rule degrader_train:
    input:
        source=get_degrader_source(),
        target=get_prepared("real_lr"),
        manifest=REAL_LR_MANIFEST,
    output:
        model=DEGRADER_MODEL,
        log_csv=DEGRADER_LOG,
        samples=f"{DEGRADER}/samples.png",
        config=f"{DEGRADER}/dsgan.config.yaml",
    log:
        "logs/degrader/train.log",
    benchmark:
        "benchmarks/degrader/train.tsv"
    params:
        settings=degrader_settings(),
        source=lambda wildcards, input: parent(input.source[0]),
        target=lambda wildcards, input: parent(input.target[0]),
        kept=lambda wildcards, output: kept_networks(output.model, degrader_settings()),
    threads: TRAINING_THREADS
    resources:
        gpu=GPU_JOB,
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr train-degrader --source {params.source:q} --target {params.target:q} --out {output.model:q}"
        " --real-lr-manifest {input.manifest:q} --log-csv {output.log_csv:q} --samples {output.samples:q}"
        " --threads {threads} --config {params.settings:q} > {log:q} 2>&1"
        " && mkdir -p {params.kept:q} && ln -f {output.model:q} {params.kept:q}"
