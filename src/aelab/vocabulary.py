"""Every choice list a user sees, in one place that imports nothing: config Literals, the CLI's
argparse choices and serve's request models all take their names from here, and `aelab --help`
reads them without loading torch or pydantic."""

# Where new codes come from (models/samplers/): the model's prior, or a distribution fitted to the
# training codes, in seconds (gaussian, gmm) or learned by a small network (flow, two_stage, diffusion).
FITTED_SAMPLERS = ("gaussian", "gmm")  # fitted in seconds: `aelab serve` fits these itself
LEARNED_SAMPLERS = ("flow", "two_stage", "diffusion")  # trained for up to ~2 minutes, stored in the run
SAMPLERS = ("prior", *FITTED_SAMPLERS, *LEARNED_SAMPLERS)
SAMPLER_CHOICES = ("auto", *SAMPLERS)  # auto: the run's model.sampler (its own auto: the prior, else gaussian)

# aelab traverse --directions (explore/traverse.py)
TRAVERSAL_DIRECTIONS = ("auto", "axes", "principal")
PRINCIPAL_ABOVE = 16  # latent sizes above which `auto` traverses principal directions
