from compgen.datasets import build_dataset
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    build_dataset(
        snakemake.wildcards.dataset,
        dict(snakemake.input.items()),
        snakemake.output.table,
        snakemake.output.rejects,
    )
