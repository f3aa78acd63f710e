from compgen.datasets import build_dataset
from compgen.workflow import job

with job(snakemake):
    build_dataset(
        snakemake.wildcards.dataset,
        dict(snakemake.input.items()),
        snakemake.output.table,
        snakemake.output.rejects,
    )
