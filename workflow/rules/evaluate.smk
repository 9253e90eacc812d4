# Evaluate stage: FID and KID of each model/variant's SR outputs against clean references, PSNR/SSIM (Y)
# and LPIPS against the validation ground truth, and the bicubic-upscale baseline; gathered in results/fid.csv.


# Cheap aggregate jobs run where Snakemake itself runs, not through a cluster's queue.
localrules:
    evaluate_table,
    evaluate_compare,
    evaluate_curves,
    evaluate_kernels_figure,
    evaluate_degradation_figure,


rule evaluate_bicubic_upscale:
    input:
        get_prepared("val_lr"),
    output:
        directory(BICUBIC_UPSCALE),
    log:
        "logs/evaluate/bicubic_upscale.log",
    benchmark:
        "benchmarks/evaluate/bicubic_upscale.tsv"
    params:
        settings=settings(),
        val_lr=lambda wildcards, input: parent(input[0]),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr upscale-bicubic --input {params.val_lr:q} --output {output:q} --config {params.settings:q} > {log:q} 2>&1"


rule evaluate_reference:
    input:
        [get_prepared(name) for name in REFERENCE_SETS],
    output:
        REFERENCE_STATS,
    log:
        "logs/evaluate/reference.log",
    benchmark:
        "benchmarks/evaluate/reference.tsv"
    params:
        settings=settings("evaluate"),
        folders=[f"{DATA}/{name}" for name in REFERENCE_SETS],
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr fid-reference --reference {params.folders:q} --out {output:q} --config {params.settings:q} > {log:q} 2>&1"


rule evaluate_score:
    input:
        sr=get_evaluated_outputs,
        generator=get_evaluated_generator,
        reference=REFERENCE_STATS,
        ground_truth=get_ground_truth(),
    output:
        score_row("{row_model}", "{row_variant}", "{row_generator}"),
    log:
        "logs/evaluate/{row_model}__{row_variant}__{row_generator}.log",
    benchmark:
        "benchmarks/evaluate/{row_model}__{row_variant}__{row_generator}.tsv"
    params:
        settings=settings("evaluate"),
        ground_truth=lambda wildcards, input: optional_flag(input, "ground_truth", "--ground-truth", folder=True),
        generator=lambda wildcards, input: optional_flag(input, "generator", "--generator-file"),
    wildcard_constraints:
        row_model=alternatives({model for model, _, _ in EVALUATED}),
        row_variant=alternatives({variant for _, variant, _ in EVALUATED}),
        row_generator=alternatives({generator for _, _, generator in EVALUATED}),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr evaluate --sr {input.sr:q} --reference {input.reference:q} {params.ground_truth} {params.generator}"
        " --model {wildcards.row_model:q} --variant {wildcards.row_variant:q} --generator {wildcards.row_generator:q}"
        " --out {output:q} --config {params.settings:q} > {log:q} 2>&1"


rule evaluate_table:
    input:
        get_score_rows(),
    output:
        report(SCORE_TABLE, caption="../report/fid.rst", category="Scores"),
    log:
        "logs/evaluate/table.log",
    benchmark:
        "benchmarks/evaluate/table.tsv"
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr fid-table --rows {input:q} --out {output:q} > {log:q} 2>&1"


rule evaluate_compare:
    input:
        sr=list(get_compare_rows().values()),
        ground_truth=get_ground_truth(),
    output:
        report(f"{EVALUATE}/comparison.png", caption="../report/comparison.rst", category="Super-resolution"),
    log:
        "logs/evaluate/compare.log",
    benchmark:
        "benchmarks/evaluate/compare.tsv"
    params:
        labels=list(get_compare_rows()),
        ground_truth=lambda wildcards, input: optional_flag(input, "ground_truth", "--ground-truth", folder=True),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr compare-crops --rows {input.sr:q} --labels {params.labels:q} {params.ground_truth}"
        " --out {output:q} > {log:q} 2>&1"


rule evaluate_curves:
    input:
        list(get_loss_logs().values()),
    output:
        report(f"{EVALUATE}/loss_curves.png", caption="../report/loss_curves.rst", category="Training"),
    log:
        "logs/evaluate/curves.log",
    benchmark:
        "benchmarks/evaluate/curves.tsv"
    params:
        labels=list(get_loss_logs()),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr plot-losses --logs {input:q} --labels {params.labels:q} --out {output:q} > {log:q} 2>&1"


rule evaluate_kernels_figure:
    input:
        unpack(get_kernel_figure_sources),
    output:
        report(f"{EVALUATE}/kernels.png", caption="../report/kernels.rst", category="Kernels"),
    log:
        "logs/evaluate/kernels_figure.log",
    benchmark:
        "benchmarks/evaluate/kernels_figure.tsv"
    params:
        labels=REAL_LR,
        truth=lambda wildcards, input: optional_flag(input, "truth", "--true-kernels-table"),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr report-kernels --kernels {input.kernels:q} --labels {params.labels:q} {params.truth}"
        " --fidelity {input.fidelity:q} --out {output:q} > {log:q} 2>&1"


rule evaluate_degradation_figure:
    input:
        real_lr=get_prepared("real_lr"),
        lr=list(get_degradation_columns().values()),
        fidelity=f"{PAIRS}/fidelity.csv",
    output:
        report(f"{EVALUATE}/degradation.png", caption="../report/degradation.rst", category="Degradation fidelity"),
    log:
        "logs/evaluate/degradation_figure.log",
    benchmark:
        "benchmarks/evaluate/degradation_figure.tsv"
    params:
        real_lr=lambda wildcards, input: parent(input.real_lr[0]),
        labels=list(get_degradation_columns()),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr report-degradation --real-lr {params.real_lr:q} --lr {input.lr:q} --labels {params.labels:q}"
        " --fidelity {input.fidelity:q} --out {output:q} > {log:q} 2>&1"
