# Data stage: demo set (when asked for), validated/normalised inputs, bicubic LR of the clean HR.


if uses_demo(config):

    rule data_demo:
        output:
            [str(path) for members in IMAGES.values() for path in members.values() if is_demo_file(path)],
            f"{DEMO_ROOT}/degradations.csv",
        log:
            "logs/data/demo.log",
        benchmark:
            "benchmarks/data/demo.tsv"
        params:
            settings=settings("data"),
        conda:
            "../../envs/rwsr.yaml"
        shell:
            "rwsr demo-data --outdir {DEMO_ROOT} --config {params.settings:q} > {log} 2>&1"


rule data_prepare:
    input:
        [str(path) for members in IMAGES.values() for path in members.values()],
    output:
        [get_prepared(dataset) for dataset in IMAGES],
        expand(f"{DATA}/{{dataset}}.csv", dataset=list(IMAGES)),
    log:
        "logs/data/prepare.log",
    benchmark:
        "benchmarks/data/prepare.tsv"
    params:
        settings=settings("data"),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr prepare-data --outdir {DATA} --demo-root {DEMO_ROOT} --config {params.settings:q} > {log} 2>&1"


rule data_downscale:
    input:
        get_prepared("hr"),
    output:
        get_bicubic_lr(),
    log:
        "logs/data/downscale.log",
    benchmark:
        "benchmarks/data/downscale.tsv"
    params:
        settings=settings(),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr downscale --input {DATA}/hr --output {DATA}/hr_bicubic_x{config[scale]} --config {params.settings:q} > {log} 2>&1"
