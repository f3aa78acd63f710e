from compgen.atmo.data import read_split
from compgen.atmo.tuning import tune_job
from compgen.workflow import job

with job(snakemake):
    tune_job(read_split(snakemake.input[0]), snakemake.params.cfg, snakemake.output, snakemake.threads)
