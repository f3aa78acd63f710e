from compgen.hydrides.study import relax_known_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    relax_known_job(read_table(snakemake.input[0]), snakemake.params.cfg, snakemake.output[0], snakemake.threads)
