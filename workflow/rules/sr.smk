# SR stage: train ESRGAN on each pair-set variant, then super-resolve the validation LR images.


rule sr_train:
    input:
        get_pairs,
    output:
        "results/sr/{model}/{variant}/generator.pt",
        "results/sr/{model}/{variant}/generator_psnr.pt",
        "results/sr/{model}/{variant}/loss.csv",
    log:
        "logs/sr/{model}/{variant}/train.log",
    benchmark:
        "benchmarks/sr/{model}/{variant}/train.tsv"
    params:
        settings=sr_train_settings,
        pairs=lambda wildcards: SR_PAIR_SETS[wildcards.variant],
    resources:
        gpu=1,
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr train-sr --model {wildcards.model} --pairs {params.pairs} --outdir results/sr/{wildcards.model}/{wildcards.variant} --config {params.settings:q} > {log} 2>&1"


rule sr_upscale:
    input:
        model="results/sr/{model}/{variant}/generator.pt",
        images=get_prepared("val_lr"),
    output:
        directory("results/sr/{model}/{variant}/val"),
    log:
        "logs/sr/{model}/{variant}/upscale.log",
    benchmark:
        "benchmarks/sr/{model}/{variant}/upscale.tsv"
    params:
        settings=upscale_settings(),
        val_lr=lambda wildcards, input: parent(input.images[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr upscale --model {input.model:q} --input {params.val_lr:q} --output {output:q} --config {params.settings:q} > {log} 2>&1"
