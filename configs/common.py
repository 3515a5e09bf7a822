"""The fields shared by the image configs (each configs/<dataset>.py fills them in)."""
import ml_collections

from ali_jax.models import ali_architectures
from ali_jax.models import bigbigan_architectures
from ali_jax.settings import choices


def image_config(*, dataset, architecture, train_examples, epochs, batch_size=100):
  """A config with the paper's optimisation (docs/papers.md section 2) for one image dataset.

  The paper's epoch budget becomes num_train_steps = epochs * train_examples /
  batch_size.
  """
  tables = {**ali_architectures.ARCHITECTURES, **bigbigan_architectures.ARCHITECTURES}
  latent_dim = (choices.BIGAN_MLP_LATENT_DIM if architecture == choices.BIGAN_MLP
                else tables[architecture].latent_dim)
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dataset = dataset
  config.data_source = 'tfds'  # or 'fake': random images of the right shape (benchmarks)
  config.data = ml_collections.ConfigDict(dict(
      data_dir=ml_collections.FieldReference(None, field_type=str),  # None: ~/tensorflow_datasets
      num_heldout=1_000,       # held-out images for the reconstruction metrics
      # Train without the dataset's validation split (ali_jax/data/images.py), on
      # which evaluations during training and every choice are made.
      carve_validation=True,
      final_split='test',      # what eval.json reads: 'validation' for a sweep's runs
      num_eval_samples=100,    # samples in the grid
  ))
  # Metrics that a reference classifier reads in samples and reconstructions,
  # and 1-NN accuracy on E(x) (labelled datasets: ali_jax/evaluation/).
  config.evaluation = ml_collections.ConfigDict(dict(
      class_metrics=True,
      reference_examples=60_000,  # labelled training images: the classifier's and 1-NN's
      # Batch-norm statistics recomputed on this many training batches before each
      # evaluation and ali_jax.load, for the averaged networks ('averaged') or every
      # network ('all', BiGAN's --deploy_iters); 0: the statistics training kept
      # (ali_jax/training/standing_statistics.py).
      standing_statistics_batches=50,
      standing_statistics_for='averaged',
  ))
  config.batch_size = batch_size  # global, over all devices and hosts
  config.num_train_steps = epochs * train_examples // batch_size
  config.log_every_steps = 100
  config.eval_every_steps = 5_000
  config.checkpoint_every_steps = 5_000
  config.max_checkpoints_to_keep = 3
  config.nonfinite = 'stop'  # or 'skip' non-finite updates and count them
  # A checkpoint still being written after this long stops the run (the
  # storage is unreachable) rather than hang it.
  config.checkpoint_write_timeout_s = 600.0
  # A gs:// workdir's lock is taken over when its run has not renewed it for
  # this long (it died); ali_jax/runs/workdir_lock.py says what the lock guarantees.
  config.workdir_lock_stale_s = 120.0
  # 'ali'; 'bigan' with model.encoder='deterministic'; or a comparison
  # (ali_jax/training/methods.py: gan, latent_regressor, joint_latent_regressor,
  # post_hoc, alice).
  config.method = 'ali'
  config.method_options = ml_collections.ConfigDict(choices.default_method_options())
  config.loss_form = 'non_saturating'  # the paper's code; or 'minimax'
  # An exponential moving average of these networks' parameters, kept in the
  # checkpoints and used by evaluation and the inference API instead of the
  # parameters (0: none). Salimans et al. 2016 average D's at 0.9999.
  config.parameter_average = ml_collections.ConfigDict(dict(
      decay=0.0, networks=('discriminator',)))
  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, b1=0.5, b2=0.999,  # the paper, every image experiment
      schedule='constant',
      discriminator_learning_rate_scale=1.0,  # D's rate = learning_rate x this (paper: 1)
      # schedule='exponential': constant for this fraction of the steps, then
      # exponential decay to final_learning_rate_scale x the rate (BiGAN: 0.5, 0.01).
      decay_start_fraction=0.5,
      final_learning_rate_scale=0.01,
      weight_decay=0.0,  # L2 on weights and kernels, added to the gradient (BiGAN: 2.5e-5)
  ))
  config.model = ml_collections.ConfigDict(dict(
      architecture=architecture,  # a layer table in ali_jax/models/ali_architectures.py
      encoder='gaussian',         # ALI's stochastic encoder; 'deterministic' for BiGAN
      # A gaussian encoder's sigma from its last layer a (ali_jax/models/common.py,
      # SIGMAS): ALI's exp(a); BigBiGAN's softplus(a); sigmoid(a), bounded by 1.
      encoder_sigma=choices.default_encoder_sigma(architecture),
      latent_dim=latent_dim,
      prior='gaussian',           # p(z): N(0, I); 'uniform' is BiGAN's U(-1, 1)
      init_std=0.01,              # weights N(0, 0.01^2), biases 0
      dropout_rate=0.2,           # on the input of every D layer (unless a layer says)
      condition_dim=0,            # 40 for conditional ALI on CelebA's attributes
      condition_embedding=256,    # the attributes' linear embedding
      # How convolutions are computed (ali_jax/models/conv_layers.py IMPLEMENTATIONS):
      # all give the same numbers; 'auto' picks the fastest measured per backend.
      conv_implementation='auto',
      # What layers compute in: 'float32', or 'bfloat16' for TPUs and GPUs
      # (parameters, batch norm statistics and losses stay float32).
      dtype='float32',
      # What the backward pass keeps (ali_jax/models/remat.py): 'none', 'elementwise'
      # (recompute batch norm and activations: less memory) or 'full'.
      remat='none',
      # D on the real and generated pairs in one call ('joint': shared batch norm
      # statistics, ALI's code) or one call each ('separate': BiGAN's code); each
      # network family as its released code (ali_jax/settings/choices.py).
      discriminator_batches=choices.default_discriminator_batches(architecture),
      # Spectral normalisation of D's kernels: BigBiGAN's D has it, ALI's and BiGAN's not.
      discriminator_spectral_norm=choices.default_discriminator_spectral_norm(architecture),
      # D's unary scores s_x and s_z beside its joint score s_xz, each scored with ALI's
      # loss (BigBiGAN's three views; ALI's and BiGAN's networks, methods ali, bigan and
      # alice): a check of each marginal of its own. Off in both papers' D.
      discriminator_unary_scores=False,
  ))
  # D's regularisers beside its rate and dropout, all off (ali_jax/settings/choices.py).
  config.regularisers = ml_collections.ConfigDict(choices.default_regularisers())
  return config
