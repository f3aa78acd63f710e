from compgen.io import read_table
from compgen.plots import dataset_overview
from compgen.workflow import job

with job(snakemake):
    dataset_overview(
        read_table(snakemake.input[0]),
        snakemake.wildcards.dataset,
        snakemake.params["values"],
        snakemake.output.png,
        snakemake.output.elements,
        snakemake.output["values"],
    )
