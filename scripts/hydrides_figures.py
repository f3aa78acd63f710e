from compgen.hydrides.plots import loss_curves
from compgen.registry import HYDRIDES_MODEL, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    out = snakemake.output
    loss_curves(keyed_inputs(snakemake.input, HYDRIDES_MODEL), out.losses_png, out.losses_csv)
