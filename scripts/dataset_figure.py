from compgen.io import read_table
from compgen.plots import dataset_overview
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    dataset_overview(
        read_table(snakemake.input[0]),
        snakemake.wildcards.dataset,
        snakemake.params["values"],
        snakemake.output.png,
        snakemake.output.elements,
        snakemake.output["values"],
    )
