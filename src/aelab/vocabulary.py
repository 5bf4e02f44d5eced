"""Every choice list a user sees, in one place that imports nothing: config Literals, the CLI's
argparse choices and serve's request models all take their names from here, and `aelab --help`
reads them without loading torch or pydantic."""

# Where new codes come from (models/samplers/): the model's prior, or a distribution fitted to the
# training codes, in seconds (gaussian, gmm) or learned by a small network (flow, two_stage, diffusion).
FITTED_SAMPLERS = ("gaussian", "gmm")  # fitted in seconds: `aelab serve` fits these itself
LEARNED_SAMPLERS = ("flow", "two_stage", "diffusion")  # trained for up to ~2 minutes, stored in the run
SAMPLERS = ("prior", *FITTED_SAMPLERS, *LEARNED_SAMPLERS)
STORED_SAMPLERS = (*LEARNED_SAMPLERS, *FITTED_SAMPLERS)  # what a run folder can store: aelab fit-sampler
SAMPLER_CHOICES = ("auto", *SAMPLERS)  # auto: the run's model.sampler (its own auto: the prior, else gaussian)

# aelab traverse --directions (explore/traverse.py)
TRAVERSAL_DIRECTIONS = ("auto", "axes", "principal")
PRINCIPAL_ABOVE = 16  # latent sizes above which `auto` traverses principal directions

# aelab interpolate / morph --method, serve's /api/interpolate (explore/latent_paths.py)
INTERPOLATION_METHODS = ("linear", "slerp")  # slerp: along the great circle, codes keep a typical norm
# aelab animate --path: shapes drawn on the 2-D latent map (explore/latent_paths.py)
ANIMATION_PATHS = ("line", "sine", "circle", "random-walk", "tour")  # tour: the class centroids in turn
# aelab latent --method, serve's latent map and decode requests (explore/latent_map.py)
LATENT_MAP_METHODS = ("auto", "pca", "tsne")  # auto: the codes as they are up to 2-D, else pca
# aelab anomalies --score (evaluate/anomalies.py)
ANOMALY_SCORES = ("reconstruction", "mse", "elbo")  # elbo: negative ELBO, VAE family only
# aelab export --format (commands/export.py)
EXPORT_FORMATS = ("onnx",)

# data.dataset: each name's DatasetSpec (data/spec.py) as "module:attribute", so that listing the names
# imports no dataset code. A new dataset is its module plus one line here (docs/extending.md);
# aelab.register_dataset adds one from a script (data/registry.py), in that process only.
DATASET_SPECS = {
    "font5x7": "aelab.data.builtin:FONT5X7",
    "digits": "aelab.data.builtin:DIGITS",
    "mnist": "aelab.data.mnist_family:MNIST",
    "fashion-mnist": "aelab.data.mnist_family:FASHION_MNIST",
    "kmnist": "aelab.data.mnist_family:KMNIST",
    "folder": "aelab.data.folder:SPEC",
    "faces": "aelab.data.faces:SPEC",
    "dsprites": "aelab.data.dsprites:SPEC",
}
DATASETS = tuple(DATASET_SPECS)  # the built-in names, in `aelab datasets`' order
FOLDER_DATASETS = ("faces", "folder")  # `aelab datasets NAME` loads and previews one (data.path)
RESIZE_MODES = ("pad", "crop", "stretch")  # data.resize: how an image of another shape fits input_size
BINARIZE_MODES = ("none", "threshold", "dynamic")  # data.binarize: dynamic draws fresh pixels each epoch
PUBLISHED_SPLITS = ("both", "train", "test")  # data.published_split of the MNIST family's files

# model.*: how the networks are built (models/layers.py, models/networks.py)
ARCHITECTURES = ("mlp", "conv", "image_conv")  # model.architecture
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "identity", "softplus", "cosh", "silu")
OUTPUT_ACTIVATIONS = ("auto", "sigmoid", "identity", "tanh", "relu", "softplus")  # auto: sigmoid
INIT_SCHEMES = ("auto", "he", "xavier", "normal", "pytorch")  # model.init (models/layers.py resolve_init)
NORMALIZATIONS = ("batch", "group", "none")  # model.normalization of image_conv
RECONSTRUCTION_LOSSES = ("bce", "mse", "l1", "ms_ssim_l1")  # model.reconstruction_loss (models/losses.py)

# model.options of the built-in types that take a named choice (each model file says what it does)
MMD_KERNELS = ("imq", "rbf")  # info_vae, wae: options.kernel (models/mmd.py)
DIP_VAE_VARIANTS = ("i", "ii")  # dip_vae: options.variant, whose covariance is pushed to the identity
RAE_REGULARIZERS = ("l2", "gp")  # rae: options.regularizer of the decoder
TC_ESTIMATORS = ("mws", "mss")  # beta_tcvae: options.estimator of q(z) on a batch (models/beta_tcvae.py)
FLOW_KINDS = ("maf", "nsf")  # model.sampler_options.flow.flow (models/samplers/flow.py)
POSTERIOR_FLOWS = ("planar", "radial")  # flow_vae: options.flow, the steps q(z|x) is pushed through
IWAE_VARIANTS = ("iwae", "miwae", "ciwae", "piwae")  # iwae: options.variant, the bound trained on (models/iwae.py)

# training.*: how the model is fitted (train/)
OPTIMIZERS = ("sgd", "momentum", "adam")  # training.optimizer.type; momentum: heavy-ball SGD
DEVICES = ("auto", "cpu", "cuda")  # training.device; auto: a GPU when there is one
PRECISIONS = ("auto", "fp32", "bf16")  # training.precision, aelab evaluate --nll-precision
KL_ANNEALING = ("none", "linear", "cyclical")  # training.kl_annealing (train/schedules.py)
LR_SCHEDULES = ("constant", "cosine", "plateau")  # training.lr_schedule (train/schedules.py)
