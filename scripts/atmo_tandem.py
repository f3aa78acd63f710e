from compgen.atmo.study import tandem_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    tandem_job(read_table(snakemake.input.atmo), snakemake.params.cfg, snakemake.input.model, snakemake.input.params, snakemake.output)
