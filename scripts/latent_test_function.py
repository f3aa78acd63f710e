from compgen.latent.study import test_function_job
from compgen.workflow import job

with job(snakemake):
    test_function_job(snakemake.wildcards.function, snakemake.params.cfg, snakemake.output[0], snakemake.threads)
