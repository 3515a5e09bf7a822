"""The values that a config's choice fields take, and defaults that follow from them.

The modules that implement a choice (training/methods.py, models/registry.py,
losses.py ...) key their tables by these names; tests/config/test_config_validation.py
checks that each table covers exactly its names.
"""

# ---- config.method (ali_jax/training/methods.py says what each trains) -----------------
ALI = 'ali'
BIGAN = 'bigan'
GAN = 'gan'
LATENT_REGRESSOR = 'latent_regressor'
BIGAN_LATENT_REGRESSOR = 'bigan_latent_regressor'
JOINT_LATENT_REGRESSOR = 'joint_latent_regressor'
POST_HOC = 'post_hoc'
ALICE = 'alice'
VAE = 'vae'
AUTOENCODER = 'autoencoder'
SEMI_SUPERVISED = 'semi_supervised'
BIGBIGAN = 'bigbigan'
SUPERVISED = 'supervised'
METHODS = (ALI, BIGAN, GAN, LATENT_REGRESSOR, BIGAN_LATENT_REGRESSOR, JOINT_LATENT_REGRESSOR,
           POST_HOC, ALICE, VAE, AUTOENCODER, SEMI_SUPERVISED, BIGBIGAN, SUPERVISED)
# Methods that learn from labelled examples; their D outputs one logit per class.
LABELLED_METHODS = (SEMI_SUPERVISED, SUPERVISED)
# A GAN first, then inference learnt against the frozen generator.
TWO_PHASE_METHODS = (LATENT_REGRESSOR, POST_HOC)
# The methods whose D judges encoder pairs (x, E(x)): their steps and evaluations report
# the pairing diagnostic (losses.pairing_metrics).
PAIRED_METHODS = (ALI, BIGAN, POST_HOC, ALICE, SEMI_SUPERVISED, BIGBIGAN)
# The methods whose D plays a real/fake game (config.regularisers apply to it); the others'
# D is unused (vae, autoencoder) or a plain classifier (supervised).
ADVERSARIAL_METHODS = tuple(m for m in METHODS if m not in (VAE, AUTOENCODER, SUPERVISED))
# The methods whose D may score each pair three ways (model.discriminator_unary_scores:
# BigBiGAN's s_xz, s_x, s_z with ALI's loss): those that pair (x, E(x)) against (G(z), z)
# at every step. A GAN phase's D sees no codes, a K+1 D classifies, BigBiGAN's has them.
UNARY_SCORE_METHODS = (ALI, BIGAN, ALICE)


def default_regularisers():
  """config.regularisers: what regularises D, beside its learning rate and dropout (each 0:
  off; ali_jax/training/step.py)."""
  return dict(
      # R1 (Mescheder et al. 2018): D's loss + r1_gamma / 2 * E||grad D(x, z)||^2 on the
      # real pairs, over both x and z.
      r1_gamma=0.0,
      # Instance noise (Sonderby et al. 2017): N(0, std^2) added to x and z of every pair
      # D trains on, decaying linearly to 0 over anneal_steps (0: constant).
      instance_noise_std=0.0,
      instance_noise_anneal_steps=0,
  )


def default_method_options():
  """config.method_options: the settings that only some methods read."""
  return dict(
      inference_steps=0,         # latent_regressor, post_hoc: steps of the second phase
      # latent_regressor, post_hoc: the workdir of a finished `gan` run with the
      # same settings and num_train_steps = the GAN phase's steps; its final
      # state becomes this run's GAN phase ('' trains the GAN phase here).
      gan_workdir='',
      regression_weight=0.25,    # joint_latent_regressor (docs/papers.md: 1.0 degenerates)
      cycle_weight=1.0,          # alice
      vae_observation_std=0.1,   # vae: std of the Gaussian p(x|z)
      reconstruction=L2,         # autoencoder: the reconstruction error, 'l2' or 'l1'
      # semi_supervised, supervised: how many labelled training examples (a
      # multiple of the classes, the same number of each), and the seed that picks them.
      num_labels=0,
      labels_seed=0,
      # semi_supervised: the weight of D's real/fake term beside its classification
      # term (Salimans et al. 2016's code: 1/2).
      unsupervised_weight=0.5,
  )


# ---- Losses (ali_jax/losses.py) ----------------------------------------------------------
NON_SATURATING = 'non_saturating'  # config.loss_form: G's and E's loss
MINIMAX = 'minimax'
LOSS_FORMS = (NON_SATURATING, MINIMAX)
L2 = 'l2'  # method_options.reconstruction: squared error
L1 = 'l1'
RECONSTRUCTION_NORMS = (L2, L1)

# ---- config.model (ali_jax/models/) --------------------------------------------------
# Encoder kinds. 'gaussian' is ALI's reparameterised q(z|x) = N(mu, sigma^2);
# 'noise' makes E stochastic by concatenating the noise to x (the paper's
# mixture encoder); 'deterministic' is BiGAN's z = E(x).
GAUSSIAN_ENCODER = 'gaussian'
NOISE_INPUT_ENCODER = 'noise'
DETERMINISTIC_ENCODER = 'deterministic'
ENCODER_KINDS = (GAUSSIAN_ENCODER, NOISE_INPUT_ENCODER, DETERMINISTIC_ENCODER)
# How a gaussian encoder's last layer gives its sigma (models/common.py's SIGMAS says how).
EXP_SIGMA = 'exp'
SOFTPLUS_SIGMA = 'softplus'
SIGMOID_SIGMA = 'sigmoid'
ENCODER_SIGMAS = (EXP_SIGMA, SOFTPLUS_SIGMA, SIGMOID_SIGMA)
# How D sees the real pairs (x, E(x)) and the generated pairs (G(z), z) of a step
# (model.discriminator_batches): JOINT, one call on both, so batch norm normalises
# them with shared statistics (ALI's released code); SEPARATE, one call each, each
# kind with its own statistics (BiGAN's released code, where --cat_inputs is off).
# Under JOINT an encoder reaches the generated pairs' logits through the shared
# batch statistics; under SEPARATE it cannot.
JOINT = 'joint'
SEPARATE = 'separate'
DISCRIMINATOR_BATCHES = (JOINT, SEPARATE)
NETWORK_NAMES = ('encoder', 'generator', 'discriminator')
DTYPES = ('float32', 'bfloat16')  # model.dtype: what layers compute in
# model.prior (ali_jax/models/priors.py)
GAUSSIAN_PRIOR = 'gaussian'
UNIFORM_PRIOR = 'uniform'
PRIORS = (GAUSSIAN_PRIOR, UNIFORM_PRIOR)
REMAT_POLICIES = ('none', 'elementwise')  # model.remat (ali_jax/models/remat.py)
# model.conv_implementation, besides 'auto' (ali_jax/models/conv_layers.py).
CONV_IMPLEMENTATIONS = ('plain', 'padded', 'phase', 'phase_space_to_depth', 'phase_all',
                        'per_shape')
AUTO = 'auto'

# model.architecture, by the family of networks that builds it (ali_jax/models/registry.py):
# the ALI paper's mixture MLPs, a table of its conv nets (models/ali_architectures.py),
# BiGAN's MLPs (models/bigan_networks.py) or a table of BigBiGAN's networks
# (models/bigbigan_architectures.py).
MIXTURE_MLP = 'mlp'
ALI_CONV_ARCHITECTURES = ('svhn', 'cifar10', 'celeba', 'imagenet64', 'digits', 'fashion_mnist')
BIGAN_MLP = 'bigan_mlp'
BIGAN_MLP_LATENT_DIM = 50  # BiGAN's MNIST prior
BIGBIGAN_ARCHITECTURES = ('bigbigan_128', 'bigbigan_32', 'bigbigan_28')
MIXTURE_FAMILY = 'mixture_mlp'
ALI_CONV_FAMILY = 'ali_conv'
BIGAN_FAMILY = 'bigan_mlp'
BIGBIGAN_FAMILY = 'bigbigan'
ARCHITECTURE_FAMILIES = {
    MIXTURE_FAMILY: (MIXTURE_MLP,),
    ALI_CONV_FAMILY: ALI_CONV_ARCHITECTURES,
    BIGAN_FAMILY: (BIGAN_MLP,),
    BIGBIGAN_FAMILY: BIGBIGAN_ARCHITECTURES,
}
# The families whose D has an x branch and a z branch for unary scores to read.
UNARY_SCORE_FAMILIES = (ALI_CONV_FAMILY, BIGAN_FAMILY)
IMAGE_ARCHITECTURES = tuple(name for family, names in ARCHITECTURE_FAMILIES.items()
                            if family != MIXTURE_FAMILY for name in names)


def architecture_family(architecture):
  """The family (a key of ARCHITECTURE_FAMILIES) whose networks `architecture` names."""
  for family, architectures in ARCHITECTURE_FAMILIES.items():
    if architecture in architectures:
      return family
  raise ValueError(f'Unknown model.architecture {architecture!r}; one of '
                   f'{sum(ARCHITECTURE_FAMILIES.values(), ())}.')


def default_discriminator_batches(architecture):
  """config.model.discriminator_batches as each family's released code runs D: one call
  per kind of pair for BiGAN's networks (train_gan.py, --cat_inputs off), one joint call
  for the rest (ALI's code concatenates; BigBiGAN's D has no batch norm, and BigGAN's
  reference code calls D once on the concatenated batch)."""
  return SEPARATE if architecture == BIGAN_MLP else JOINT


def default_discriminator_spectral_norm(architecture):
  """config.model.discriminator_spectral_norm as each family's released code has it: on
  for BigBiGAN's D (BigGAN's), off for ALI's and BiGAN's."""
  return architecture in BIGBIGAN_ARCHITECTURES


def default_encoder_sigma(architecture):
  """config.model.encoder_sigma unless set: BigBiGAN's softplus for its networks, ALI's
  exp for the others."""
  return SOFTPLUS_SIGMA if architecture in BIGBIGAN_ARCHITECTURES else EXP_SIGMA


# ---- config.optimizer (ali_jax/training/optimizers.py) -----------------------------
LEARNING_RATE_SCHEDULES = ('constant', 'cosine', 'exponential')

# ---- config.evaluation (ali_jax/training/standing_statistics.py) -------------------
AVERAGED_NETWORKS = 'averaged'  # standing_statistics_for: the averaged networks only
ALL_NETWORKS = 'all'            # every network (BiGAN's --deploy_iters)
STANDING_STATISTICS_FOR = (AVERAGED_NETWORKS, ALL_NETWORKS)
