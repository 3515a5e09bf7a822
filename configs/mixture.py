"""ALI on the paper's 25-Gaussian mixture (docs/papers.md section 4): the quick start.

The networks, data, batch size and Adam beta1 are the paper's. The schedule is
not: the paper trains 200 epochs (200,000 steps) at a constant lr of 1e-4; here
a 10x larger lr decays to 0 on a cosine over 20,000 steps, which runs in about
3 minutes on 2 CPU cores (measured: see the README). configs/mixture_paper.py
keeps the paper's schedule.
"""
import ml_collections

from ali_jax.settings import choices


def get_config():
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dataset = 'mixture'
  config.data = ml_collections.ConfigDict(dict(
      num_train=100_000,    # the paper's training set size
      num_heldout=10_000,   # held-out points for reconstructions
      final_split='test',   # eval.json's points: 'validation' for a sweep's runs
      num_eval_samples=10_000,  # samples for the mode count, as the paper
  ))

  config.batch_size = 100           # global, over all devices and hosts
  config.num_train_steps = 20_000
  config.log_every_steps = 500
  config.eval_every_steps = 5_000
  config.checkpoint_every_steps = 5_000
  config.max_checkpoints_to_keep = 3
  # A non-finite loss or gradient: 'stop' the run (the checkpoints before it are
  # kept), or 'skip' that update and count it in the metrics.
  config.nonfinite = 'stop'
  # A checkpoint still being written after this long stops the run (the
  # storage is unreachable) rather than hang it.
  config.checkpoint_write_timeout_s = 600.0
  # A gs:// workdir's lock is taken over when its run has not renewed it for
  # this long (it died); ali_jax/runs/workdir_lock.py says what the lock guarantees.
  config.workdir_lock_stale_s = 120.0

  # What to train (ali_jax/training/methods.py): 'ali', 'bigan' (with encoder=
  # 'deterministic'), or the paper's comparisons 'gan', 'latent_regressor',
  # 'joint_latent_regressor', 'post_hoc', 'alice', 'vae' (encoder='gaussian').
  config.method = 'ali'
  config.method_options = ml_collections.ConfigDict(choices.default_method_options())
  config.loss_form = 'non_saturating'  # or 'minimax' (saturating)
  # An exponential moving average of these networks' parameters, kept in the
  # checkpoints and used by evaluation and the inference API instead of the
  # parameters (0: none). Salimans et al. 2016 average D's at 0.9999.
  config.parameter_average = ml_collections.ConfigDict(dict(
      decay=0.0, networks=('discriminator',)))
  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-3,   # the paper: 1e-4
      b1=0.8, b2=0.999,     # the paper's
      # 'cosine' decays to 0 over num_train_steps (so a resumed run must keep
      # num_train_steps to continue the same schedule); the paper: 'constant'.
      schedule='cosine',
      discriminator_learning_rate_scale=1.0,  # D's rate = learning_rate x this (paper: 1)
      # schedule='exponential': constant for this fraction of the steps, then
      # exponential decay to final_learning_rate_scale x the rate (BiGAN: 0.5, 0.01).
      decay_start_fraction=0.5,
      final_learning_rate_scale=0.01,
      weight_decay=0.0,  # L2 on weights and kernels, added to the gradient (BiGAN: 2.5e-5)
  ))

  config.model = ml_collections.ConfigDict(dict(
      architecture='mlp',
      encoder='noise',          # 'noise' (paper), 'gaussian' (ALI) or 'deterministic' (BiGAN)
      encoder_sigma='exp',      # a gaussian encoder's sigma: ALI's exp(a) (models/common.py)
      latent_dim=2,
      prior='gaussian',         # p(z): N(0, I); 'uniform' is BiGAN's U(-1, 1)
      encoder_hidden=(400, 400),
      generator_hidden=(400, 400, 400, 400),
      discriminator_hidden=(200, 200, 200),
      maxout_pieces=5,
      dropout_rate=0.0,
      init_std=0.02,
      dtype='float32',          # or 'bfloat16' (TPU/GPU): what layers compute in
      remat='none',             # what the backward pass keeps (ali_jax/models/remat.py)
      # D on the real and generated pairs in one call, as ALI's code ('separate':
      # one call each, their own batch norm statistics; ali_jax/training/step.py).
      discriminator_batches='joint',
      discriminator_spectral_norm=False,  # of D's kernels (Miyato et al. 2018)
      discriminator_unary_scores=False,  # the mixture's D has no x and z branches
  ))
  # D's regularisers beside its rate and dropout, all off (ali_jax/settings/choices.py).
  config.regularisers = ml_collections.ConfigDict(choices.default_regularisers())
  return config
