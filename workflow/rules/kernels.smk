# Kernels stage: an estimator (kernels.estimator: KernelGAN, or the spectral fit) on every real LR
# image, then the pool of kernels the pairs stage draws from. kernels.batched picks one job per
# image (default) or one job for all images together.

KERNEL_COMMAND = {"kernelgan": "kernelgan", "spectral": "spectral-kernels"}[config["kernels"]["estimator"]]


# Cheap aggregate jobs run where Snakemake itself runs, not through a cluster's queue.
localrules:
    kernels_pool,


if not config["kernels"]["batched"]:

    rule kernels_estimate:
        input:
            f"{DATA}/real_lr/{{image}}.png",
        output:
            kernel_outputs("{image}"),
        log:
            "logs/kernels/{image}.log",
        benchmark:
            "benchmarks/kernels/{image}.tsv"
        params:
            settings=kernel_stage_settings(config),
            command=KERNEL_COMMAND,
            outdir=lambda wildcards, output: parent(output[0]),
        threads: TRAINING_THREADS
        resources:
            gpu=GPU_JOB if KERNEL_COMMAND == "kernelgan" else 0,  # the spectral fit is numpy
        conda:
            "../../envs/rwsr.yaml"
        shell:
            "rwsr {params.command} --input {input:q} --outdir {params.outdir:q} --threads {threads}"
            " --config {params.settings:q} > {log:q} 2>&1"

else:

    rule kernels_estimate_batched:
        input:
            get_prepared("real_lr"),
        output:
            [kernel_outputs(image) for image in REAL_LR],
        log:
            "logs/kernels/estimate_batched.log",
        benchmark:
            "benchmarks/kernels/estimate_batched.tsv"
        params:
            settings=kernel_stage_settings(config),
            command=KERNEL_COMMAND,
            outdirs=[f"{KERNELS}/{image}" for image in REAL_LR],
        threads: TRAINING_THREADS
        resources:
            gpu=GPU_JOB if KERNEL_COMMAND == "kernelgan" else 0,  # the spectral fit is numpy
        conda:
            "../../envs/rwsr.yaml"
        shell:
            "rwsr {params.command} --input {input:q} --outdir {params.outdirs:q} --threads {threads}"
            " --config {params.settings:q} > {log:q} 2>&1"


rule kernels_pool:
    input:
        expand(f"{KERNELS}/{{image}}/kernel_x{config['scale']}.npy", image=REAL_LR),
    output:
        pool=KERNEL_POOL,
        montage=f"{KERNELS}/pool.png",
    log:
        "logs/kernels/pool.log",
    benchmark:
        "benchmarks/kernels/pool.tsv"
    params:
        settings=settings(),
    conda:
        "../../envs/rwsr.yaml"
    shell:
        "rwsr kernel-pool --input {input:q} --output {output.pool:q} --montage {output.montage:q}"
        " --config {params.settings:q} > {log:q} 2>&1"
