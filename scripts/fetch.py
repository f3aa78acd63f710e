from compgen.fetch import Source, fetch, resolve_mirror
from compgen.workflow import job

with job(snakemake):
    source = Source.from_config(snakemake.wildcards.source, snakemake.params.source)
    # Read here, not as a param: where the verified bytes came from must not
    # make Snakemake rebuild everything downstream.
    fetch(source, snakemake.output[0], resolve_mirror(snakemake.config.get("data_mirror")))
