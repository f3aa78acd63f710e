from compgen.hydrides.study import noise_gan_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    out = snakemake.output
    seed = int(snakemake.wildcards.seed)
    noise_gan_job(read_table(snakemake.input.dataset), snakemake.params.cfg, seed, snakemake.input.step1, out.model, out.losses, snakemake.threads)
