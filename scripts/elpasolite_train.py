from compgen.elpasolite.study import train_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    w = snakemake.wildcards
    train_job(read_table(snakemake.input[0]), w.generator, snakemake.params.settings, int(w.seed), w.n_train, snakemake.output[0], snakemake.threads)
