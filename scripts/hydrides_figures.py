from compgen.hydrides.plots import loss_curves
from compgen.registry import HYDRIDES_MODEL, keyed_inputs
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    out = snakemake.output
    loss_curves(keyed_inputs(snakemake.input, HYDRIDES_MODEL), out.losses_png, out.losses_csv)
