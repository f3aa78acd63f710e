from compgen.hydrides.study import noise_gan_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    out = snakemake.output
    seed = int(snakemake.wildcards.seed)
    noise_gan_job(read_table(snakemake.input.dataset), snakemake.params.cfg, seed, snakemake.input.step1, out.model, out.losses, snakemake.threads)
