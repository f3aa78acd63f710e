from compgen.latent.study import search_summary_job
from compgen.registry import LATENT_SEARCH, keyed_inputs
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    inputs = snakemake.input
    runs = keyed_inputs(dict(inputs.items()), LATENT_SEARCH, fixed=["perovskites", "test_functions"])
    search_summary_job(runs, list(inputs.test_functions), inputs.perovskites, snakemake.params.cfg, snakemake.output)
