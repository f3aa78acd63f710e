from compgen.latent.study import search_summary_job
from compgen.registry import LATENT_SEARCH, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    inputs = snakemake.input
    runs = keyed_inputs(dict(inputs.items()), LATENT_SEARCH, fixed=["perovskites", "test_functions"])
    search_summary_job(runs, list(inputs.test_functions), inputs.perovskites, snakemake.params.cfg, snakemake.output)
