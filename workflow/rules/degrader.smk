# Degrader stage: DSGAN learns the real LR photos' high-frequency degradation (noise, JPEG
# texture) from unpaired crops: clean bicubic LR of the HR images (source) versus real LR (target).


rule degrader_train:
    input:
        source=get_bicubic_lr(),
        target=get_prepared("real_lr"),
    output:
        model="results/degrader/dsgan.pt",
        log_csv="results/degrader/log.csv",
        samples=report("results/degrader/samples.png", caption="../report/degrader.rst", category="Degrader"),
        config="results/degrader/dsgan.config.yaml",
    log:
        "logs/degrader/train.log",
    benchmark:
        "benchmarks/degrader/train.tsv"
    params:
        settings=settings("degrader"),
        source=lambda wildcards, input: parent(input.source[0]),
        target=lambda wildcards, input: parent(input.target[0]),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr train-degrader --source {params.source:q} --target {params.target:q} --out {output.model:q}"
        " --log-csv {output.log_csv:q} --samples {output.samples:q} --threads {threads}"
        " --config {params.settings:q} > {log} 2>&1"
