from compgen.atmo.data import read_split
from compgen.atmo.tuning import tune_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    tune_job(read_split(snakemake.input[0]), snakemake.params.cfg, snakemake.output, snakemake.threads)
