from compgen.mp_api import build
from compgen.workflow import job

with job(snakemake):
    build(snakemake.wildcards.mp_dataset, snakemake.input[0], snakemake.output.table, snakemake.output.rejects)
