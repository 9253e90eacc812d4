# Data stage: demo set (when asked for), validated/normalised inputs, bicubic LR of the clean HR.


# Cheap aggregate jobs run where Snakemake itself runs, not through a cluster's queue.
localrules:
    data_manifest,


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
        unpack(get_prepare_sources),
    output:
        image=f"{DATA}/{{dataset}}/{{image}}.png",
        row=f"{DATA}/rows/{{dataset}}/{{image}}.csv",
    log:
        "logs/data/prepare/{dataset}/{image}.log",
    benchmark:
        "benchmarks/data/prepare/{dataset}/{image}.tsv"
    params:
        settings=prepare_settings(),
        partner=lambda wildcards, input: optional_flag(input, "lr_partner", "--lr-partner"),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr prepare-image --set {wildcards.dataset:q} --input {input.source:q} --output {output.image:q}"
        " --row {output.row:q} {params.partner} --config {params.settings:q} > {log:q} 2>&1"


rule data_manifest:
    input:
        get_manifest_rows,
    output:
        f"{DATA}/{{dataset}}.csv",
    log:
        "logs/data/manifest/{dataset}.log",
    benchmark:
        "benchmarks/data/manifest/{dataset}.tsv"
    params:
        settings=manifest_settings,
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr data-manifest --set {wildcards.dataset:q} --rows {input:q} --out {output:q} --config {params.settings:q} > {log:q} 2>&1"


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
