from compgen.hydrides.study import step2_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    w, out = snakemake.wildcards, snakemake.output
    dataset = read_table(snakemake.input.dataset)
    step2_job(dataset, snakemake.params.cfg, w.variant, int(w.seed), snakemake.input.step1, out.model, out.losses, snakemake.threads)
