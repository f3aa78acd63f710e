from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml", set_default=True)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/atmo.smk"
include: "rules/elpasolite.smk"
include: "rules/hydrides.smk"
include: "rules/latent.smk"
include: "rules/mp_api.smk"
include: "rules/scorecard.smk"


rule all:
    default_target: True
    input:
        rules.scorecard.output,
        rules.datasets.input,
        rules.atmo.input,
        rules.elpasolite.input,
        rules.hydrides.input,
        rules.latent.input,
