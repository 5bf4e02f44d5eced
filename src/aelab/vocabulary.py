"""Names of choices that several layers offer (config Literals, CLI choices, serve's request
models), defined once here. Plain tuples: the CLI reads them without loading torch or pydantic."""

# Where new codes come from (models/samplers/): the model's prior, or a distribution fitted to the
# training codes, in seconds (gaussian, gmm) or learned by a small network (flow, two_stage, diffusion).
FITTED_SAMPLERS = ("gaussian", "gmm")  # fitted in seconds: `aelab serve` fits these itself
LEARNED_SAMPLERS = ("flow", "two_stage", "diffusion")  # trained for up to ~2 minutes, stored in the run
SAMPLERS = ("prior", *FITTED_SAMPLERS, *LEARNED_SAMPLERS)
SAMPLER_CHOICES = ("auto", *SAMPLERS)  # auto: the run's model.sampler (its own auto: the prior, else gaussian)
