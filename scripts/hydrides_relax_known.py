from compgen.hydrides.study import relax_known_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    relax_known_job(read_table(snakemake.input[0]), snakemake.params.cfg, snakemake.output[0], snakemake.threads)
