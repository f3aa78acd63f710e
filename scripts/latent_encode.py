from compgen.latent.study import encode_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    encode_job(dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output)
