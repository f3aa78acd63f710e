from compgen.elpasolite.study import sweep_job
from compgen.io import read_table
from compgen.registry import ELPASOLITE_SAMPLES, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    inputs = snakemake.input
    samples = keyed_inputs(inputs, ELPASOLITE_SAMPLES, fixed=["dft", "space", "class_table"])
    sweep_job(read_table(inputs.dft), inputs.space, inputs.class_table, snakemake.params.cfg, samples, snakemake.output)
