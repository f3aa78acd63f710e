from compgen.elpasolite.study import sample_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    w = snakemake.wildcards
    model = snakemake.input.get("model")
    n = snakemake.params.n_samples
    sample_job(read_table(snakemake.input.dft), w.sampler, int(w.target), n, int(w.seed), model, snakemake.output[0], snakemake.threads)
