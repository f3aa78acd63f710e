from compgen.latent.study import encode_job
from compgen.workflow import job

with job(snakemake):
    encode_job(dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output)
