# Pairs stage: realistic LR/HR training pairs from the clean HR images, and the bicubic ablation set.


rule pairs_make:
    input:
        unpack(get_pair_sources),
    output:
        table="results/pairs/pairs.csv",
        lr=directory("results/pairs/lr"),
        hr=directory("results/pairs/hr"),
    log:
        "logs/pairs/make.log",
    benchmark:
        "benchmarks/pairs/make.tsv"
    params:
        settings=settings("pairs"),
        sources=lambda wildcards, input: pair_source_flags(input),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr make-pairs {params.sources} --outdir results/pairs --config {params.settings:q} > {log} 2>&1"


rule pairs_bicubic:
    input:
        hr=get_prepared("hr"),
    output:
        table="results/pairs_bicubic/pairs.csv",
        lr=directory("results/pairs_bicubic/lr"),
        hr=directory("results/pairs_bicubic/hr"),
    log:
        "logs/pairs/bicubic.log",
    benchmark:
        "benchmarks/pairs/bicubic.tsv"
    params:
        settings=bicubic_pair_settings(),
        hr_dir=lambda wildcards, input: parent(input.hr[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr make-pairs --hr {params.hr_dir:q} --outdir results/pairs_bicubic --config {params.settings:q} > {log} 2>&1"
