from compgen.latent.study import properties_summary_job
from compgen.registry import LATENT_PROPERTY, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    inputs = dict(snakemake.input.items())
    predictions = {name.removeprefix("predictions_"): path for name, path in inputs.items() if name.startswith("predictions_")}
    folds = {name: path for name, path in inputs.items() if not name.startswith("predictions_")}
    properties_summary_job(keyed_inputs(folds, LATENT_PROPERTY), keyed_inputs(predictions, LATENT_PROPERTY), snakemake.params.cfg, snakemake.output)
