# SR stage: train the SR model on each pair-set variant, then super-resolve the validation LR
# images with both of its generators (the PSNR phase's and the final one).


rule sr_train:
    input:
        pairs=get_pairs,
        # sr.init_weights: a new file at the same path re-trains too (its content is in the run key).
        init_weights=[config["sr"]["init_weights"]] if config["sr"]["init_weights"] else [],
    output:
        final=training_file("{model}", "{variant}", GENERATOR_FILES["final"]),
        psnr=training_file("{model}", "{variant}", GENERATOR_FILES["psnr"]),
        loss=training_file("{model}", "{variant}", "loss.csv"),
    log:
        "logs/sr/{model}/{variant}/train.log",
    benchmark:
        "benchmarks/sr/{model}/{variant}/train.tsv"
    params:
        settings=sr_train_settings,
        pairs=lambda wildcards: SR_PAIR_SETS[wildcards.variant],
        outdir=lambda wildcards, output: parent(output.final),
        kept=lambda wildcards, output: kept_networks(output.final, sr_train_settings(wildcards)),
    threads: TRAINING_THREADS
    resources:
        gpu=GPU_JOB,
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr train-sr --model {wildcards.model:q} --pairs {params.pairs:q} --outdir {params.outdir:q}"
        " --threads {threads} --config {params.settings:q} > {log:q} 2>&1"
        " && mkdir -p {params.kept:q} && ln -f {output.final:q} {output.psnr:q} {params.kept:q}"


rule sr_upscale:
    input:
        model=get_generator_file,
        images=get_prepared("val_lr"),
    output:
        directory(sr_outputs("{model}", "{variant}", "{generator}")),
    log:
        "logs/sr/{model}/{variant}/upscale_{generator}.log",
    benchmark:
        "benchmarks/sr/{model}/{variant}/upscale_{generator}.tsv"
    params:
        settings=upscale_settings(),
        val_lr=lambda wildcards, input: parent(input.images[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr upscale --model {input.model:q} --input {params.val_lr:q} --output {output:q}"
        " --config {params.settings:q} > {log:q} 2>&1"
