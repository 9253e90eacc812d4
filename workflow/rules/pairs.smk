# Pairs stage: realistic LR/HR training pairs from the clean HR images (the pipeline's), the bicubic
# ablation set, and, when the hidden degradation is known (demo), the oracle set. Each writes
# fidelity.csv: its LR measured against the real LR.


rule pairs_make:
    input:
        unpack(get_pair_sources),
    output:
        table=f"{PAIRS}/pairs.csv",
        lr=directory(f"{PAIRS}/lr"),
        hr=directory(f"{PAIRS}/hr"),
        fidelity=report(f"{PAIRS}/fidelity.csv", caption="../report/fidelity.rst", category="Degradation fidelity"),
    log:
        "logs/pairs/make.log",
    benchmark:
        "benchmarks/pairs/make.tsv"
    params:
        settings=pipeline_pair_settings(),
        sources=lambda wildcards, input: pair_source_flags(input),
        outdir=lambda wildcards, output: parent(output.table),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr make-pairs {params.sources} --outdir {params.outdir:q} --config {params.settings:q} > {log:q} 2>&1"


rule pairs_bicubic:
    input:
        **common_pair_sources(),
    output:
        table=f"{PAIRS_BICUBIC}/pairs.csv",
        lr=directory(f"{PAIRS_BICUBIC}/lr"),
        hr=directory(f"{PAIRS_BICUBIC}/hr"),
        fidelity=f"{PAIRS_BICUBIC}/fidelity.csv",
    log:
        "logs/pairs/bicubic.log",
    benchmark:
        "benchmarks/pairs/bicubic.tsv"
    params:
        settings=bicubic_pair_settings(),
        sources=lambda wildcards, input: pair_source_flags(input),
        outdir=lambda wildcards, output: parent(output.table),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr make-pairs {params.sources} --outdir {params.outdir:q} --config {params.settings:q} > {log:q} 2>&1"


if HIDDEN_DEGRADATION:

    rule pairs_oracle:
        input:
            **common_pair_sources(),
        output:
            table=f"{PAIRS_ORACLE}/pairs.csv",
            lr=directory(f"{PAIRS_ORACLE}/lr"),
            hr=directory(f"{PAIRS_ORACLE}/hr"),
            fidelity=f"{PAIRS_ORACLE}/fidelity.csv",
        log:
            "logs/pairs/oracle.log",
        benchmark:
            "benchmarks/pairs/oracle.tsv"
        params:
            settings=oracle_pair_settings(),
            sources=lambda wildcards, input: pair_source_flags(input),
            outdir=lambda wildcards, output: parent(output.table),
        conda:
            "../../envs/rwsr.yaml"
        shell:
            "rwsr make-pairs {params.sources} --oracle {input.truth:q} --outdir {params.outdir:q}"
            " --config {params.settings:q} > {log:q} 2>&1"
