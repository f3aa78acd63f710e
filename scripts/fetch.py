from compgen.fetch import Source, fetch, resolve_mirror
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    source = Source.from_config(snakemake.wildcards.source, snakemake.params.source)
    fetch(source, snakemake.output[0], resolve_mirror(snakemake.params.mirror))
