# Data stage: demo set (when asked for), validated/normalised inputs, bicubic LR of the clean HR.


if uses_demo(config):

    rule data_demo:
        output:
            images=[str(path) for members in IMAGES.values() for path in members.values() if is_demo_file(path)],
            table=f"{DEMO_ROOT}/degradations.csv",
        log:
            "logs/data/demo.log",
        benchmark:
            "benchmarks/data/demo.tsv"
        params:
            settings=settings("data"),
            outdir=lambda wildcards, output: parent(output.table),
        conda:
            "../../envs/rwsr.yaml"
        shell:
            "rwsr demo-data --outdir {params.outdir:q} --config {params.settings:q} > {log:q} 2>&1"


rule data_prepare:
    input:
        [str(path) for members in IMAGES.values() for path in members.values()],
    output:
        images=[get_prepared(dataset) for dataset in IMAGES],
        manifests=expand(f"{DATA}/{{dataset}}.csv", dataset=list(IMAGES)),
    log:
        "logs/data/prepare.log",
    benchmark:
        "benchmarks/data/prepare.tsv"
    params:
        settings=settings("data"),
        outdir=lambda wildcards, output: parent(output.manifests[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr prepare-data --outdir {params.outdir:q} --config {params.settings:q} > {log:q} 2>&1"


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
        hr_dir=lambda wildcards, input: parent(input[0]),
        lr_dir=lambda wildcards, output: parent(output[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr downscale --input {params.hr_dir:q} --output {params.lr_dir:q} --config {params.settings:q} > {log:q} 2>&1"
