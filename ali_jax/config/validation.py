"""A config checked before anything is built or compiled.

A config with a field that is unknown (a typo, say), missing, of the wrong type
or out of range, or with fields that do not fit together (a method option the
method does not read, an architecture for another image size), stops with a
message that says which field and what is allowed (mistakes.ConfigMistake).
"""
import difflib

from ali_jax.config import fields
from ali_jax.models import ali_architectures as architectures
from ali_jax.models import bigbigan_architectures
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.settings import mistakes

def check_config(config, *, device_count=None):
  """Raises mistakes.ConfigMistake naming the first problem of `config`, if any.

  device_count: the devices the batch is split over (None, before JAX has started:
  not checked).
  """
  try:
    _check_fields(config, device_count)
  except ValueError as error:  # the checks below raise ValueError; it is the user's to fix
    raise mistakes.ConfigMistake(str(error)) from None


def _check_fields(config, device_count):
  flat = fields.flatten(config)
  dataset = fields.COMMON_FIELDS['dataset']
  if not dataset.accepts(flat.get('dataset')):
    raise ValueError(f'config.dataset={flat.get("dataset")!r} is not allowed: expected '
                     f'{dataset.allowed}.')
  is_mixture = flat['dataset'] == 'mixture'
  known = fields.fields_of(flat['dataset'])
  for key in flat:
    if key not in known:
      close = difflib.get_close_matches(key, known, n=1)
      hint = f' Did you mean config.{close[0]}?' if close else ''
      raise ValueError(f'config.{key} is not a known field of a {flat["dataset"]} config.'
                       f'{hint} Known fields: {", ".join(sorted(known))}.')
  for key, field in known.items():
    if key not in flat:
      raise ValueError(f'config.{key} is missing: set it to {field.allowed}.')
    if not field.accepts(flat[key]):
      raise ValueError(f'config.{key}={flat[key]!r} is not allowed: expected '
                       f'{field.allowed}.')

  _check_method(config)
  if device_count and config.batch_size % device_count:
    raise ValueError(f'config.batch_size={config.batch_size} must be divisible by the '
                     f'number of devices ({device_count}).')
  if is_mixture:
    if config.batch_size > config.data.num_train:
      raise ValueError(f'config.batch_size={config.batch_size} is larger than the training '
                       f'set (config.data.num_train={config.data.num_train}).')
  else:
    _check_image_model(config)


def _check_method(config):
  """The method must suit the encoder and the dataset it is given."""
  method, encoder = config.method, config.model.encoder
  if method == choices.BIGAN and encoder != choices.DETERMINISTIC_ENCODER:
    raise ValueError(f"config.method='bigan' learns a deterministic encoder, but "
                     f"config.model.encoder={encoder!r}: set it to 'deterministic' (or "
                     "use config.method='ali' for a stochastic one).")
  if method == choices.ALI and encoder == choices.DETERMINISTIC_ENCODER:
    raise ValueError("config.method='ali' learns a stochastic encoder, but "
                     "config.model.encoder='deterministic': use config.method='bigan', or "
                     f"set config.model.encoder to one of {choices.GAUSSIAN_ENCODER!r}, "
                     f"{choices.NOISE_INPUT_ENCODER!r} (mixture).")
  if method == choices.VAE:
    if config.dataset != 'mixture':
      raise ValueError("config.method='vae' is for the mixture only (the paper compares "
                       'a VAE there); pick another method for images.')
    if encoder != choices.GAUSSIAN_ENCODER:
      raise ValueError(f"config.method='vae' needs config.model.encoder='gaussian' (its KL "
                       f"term needs mu and sigma), not {encoder!r}.")
  bigbigan_architecture = bigbigan_architectures.is_bigbigan(config.model.architecture)
  if (method == choices.BIGBIGAN) != bigbigan_architecture:
    raise ValueError(
        f'config.method={method!r} with config.model.architecture='
        f'{config.model.architecture!r}: BigBiGAN\'s networks (a D of three scores) and '
        "config.method='bigbigan' go together: set both to BigBiGAN's (architecture one of "
        f'{tuple(bigbigan_architectures.ARCHITECTURES)}) or neither.')
  if method == choices.BIGBIGAN and (encoder, config.model.prior) != (
      choices.GAUSSIAN_ENCODER, choices.GAUSSIAN_PRIOR):
    raise ValueError("config.method='bigbigan' learns a Gaussian q(z|x) against a Gaussian "
                     "prior: set config.model.encoder='gaussian' and "
                     "config.model.prior='gaussian'.")
  if config.model.prior == choices.UNIFORM_PRIOR and encoder == choices.GAUSSIAN_ENCODER:
    raise ValueError("config.model.prior='uniform' has a bounded support that a Gaussian "
                     "q(z|x) does not keep to: set config.model.encoder='deterministic' "
                     "(BiGAN's encoder, squashed into (-1, 1)) or keep "
                     "config.model.prior='gaussian'.")
  if encoder != choices.GAUSSIAN_ENCODER and config.model.encoder_sigma != choices.EXP_SIGMA:
    raise ValueError(f'config.model.encoder_sigma={config.model.encoder_sigma!r} sets a '
                     f"gaussian encoder's sigma, but config.model.encoder={encoder!r} has "
                     "none: set config.model.encoder='gaussian', or leave encoder_sigma "
                     f'{choices.EXP_SIGMA!r}.')
  _check_labels(config)
  _check_regularisers(config)
  inference_steps = config.method_options.inference_steps
  if method in choices.TWO_PHASE_METHODS and not (
      0 < inference_steps < config.num_train_steps):
    raise ValueError(
        f'config.method={method!r} trains a GAN, then inference for the last '
        f'config.method_options.inference_steps steps; it is {inference_steps}, but must be '
        f'between 1 and config.num_train_steps - 1 = {config.num_train_steps - 1}.')
  if config.method_options.gan_workdir and method not in choices.TWO_PHASE_METHODS:
    raise ValueError(
        f'config.method_options.gan_workdir is set, but config.method={method!r} has no GAN '
        f'phase to take from it (only {", ".join(choices.TWO_PHASE_METHODS)} do): '
        "set it to ''.")


def _check_regularisers(config):
  """D's regularisers need a D that plays the real/fake game, and BigBiGAN's D is always
  spectrally normalised (its networks are built so)."""
  active = [f'config.regularisers.{name}={config.regularisers[name]}'
            for name in ('r1_gamma', 'instance_noise_std') if config.regularisers[name]]
  if config.model.discriminator_spectral_norm:
    active.append('config.model.discriminator_spectral_norm=True')
  if active and config.method not in choices.ADVERSARIAL_METHODS:
    raise ValueError(f'{", ".join(active)}: config.method={config.method!r} has no '
                     'real/fake discriminator to regularise; set them to 0 / False.')
  if (bigbigan_architectures.is_bigbigan(config.model.architecture)
      and not config.model.discriminator_spectral_norm):
    raise ValueError('config.model.discriminator_spectral_norm=False, but BigBiGAN\'s '
                     'discriminator is always spectrally normalised: set it to True.')
  if config.model.discriminator_unary_scores:
    family = choices.architecture_family(config.model.architecture)
    if family not in choices.UNARY_SCORE_FAMILIES:
      raise ValueError(
          f'config.model.discriminator_unary_scores=True, but the D of '
          f'config.model.architecture={config.model.architecture!r} has no x and z branches '
          'to score alone (only ALI\'s conv nets and BiGAN\'s MLPs do; BigBiGAN\'s D always '
          'has its unary scores): set it to False.')
    if config.method not in choices.UNARY_SCORE_METHODS:
      raise ValueError(
          f'config.model.discriminator_unary_scores=True, but config.method='
          f'{config.method!r} does not score (x, E(x)) against (G(z), z) with ALI\'s loss at '
          f'every step (only {", ".join(choices.UNARY_SCORE_METHODS)} do): set it to False.')


def _check_labels(config):
  """The labelled methods need a labelled image dataset and a class-balanced count."""
  method, num_labels = config.method, config.method_options.num_labels
  if method not in choices.LABELLED_METHODS:
    if num_labels:
      raise ValueError(
          f'config.method_options.num_labels={num_labels}, but config.method={method!r} '
          'learns from no labels: set it to 0, or use one of '
          f'{choices.LABELLED_METHODS}.')
    return
  spec = datasets.SPECS.get(config.dataset)
  if spec is None or not spec.num_classes:
    labelled = [name for name, s in datasets.SPECS.items() if s.num_classes]
    raise ValueError(f'config.method={method!r} learns from class labels, but '
                     f'config.dataset={config.dataset!r} has none: use one of {labelled}.')
  if config.model.condition_dim:
    raise ValueError(f'config.method={method!r} takes no conditions: set '
                     'config.model.condition_dim to 0.')
  if not num_labels or num_labels % spec.num_classes:
    raise ValueError(
        f'config.method={method!r} needs config.method_options.num_labels, a positive '
        f'multiple of the {spec.num_classes} classes of {config.dataset} (the same number '
        f'of each); it is {num_labels}.')


def _check_image_model(config):
  """The architecture must take the dataset's images and the config's latents."""
  tables = {**architectures.ARCHITECTURES, **bigbigan_architectures.ARCHITECTURES}
  shapes = {name: ((a.image_size, a.image_size, a.channels), a.latent_dim)
            for name, a in tables.items()}
  shapes[choices.BIGAN_MLP] = (None, None)  # MLPs: any image and latent size
  image_shape, latent_dim = shapes[config.model.architecture]
  data_shape = tuple(datasets.data_shape(config))
  if image_shape not in (None, data_shape):
    raise ValueError(
        f'config.model.architecture={config.model.architecture!r} takes '
        f'{"x".join(map(str, image_shape))} images, but config.dataset={config.dataset!r} '
        f'gives {"x".join(map(str, data_shape))}. Architectures for it: ' + ', '.join(
            name for name, (shape, _) in shapes.items() if shape in (None, data_shape)) + '.')
  if latent_dim is not None and config.model.latent_dim != latent_dim:
    raise ValueError(f'config.model.latent_dim={config.model.latent_dim} does not match '
                     f'the {config.model.architecture!r} architecture, whose encoder ends in '
                     f'2 x {latent_dim} channels: set it to {latent_dim}.')
  own_networks = {choices.BIGAN_MLP: "BiGAN's MLPs",
                  **{name: "BigBiGAN's networks" for name in bigbigan_architectures.ARCHITECTURES}}
  if config.model.architecture in own_networks:
    for field in ('condition_dim', 'dropout_rate'):
      if config.model[field]:
        raise ValueError(f'config.model.architecture={config.model.architecture!r} '
                         f'({own_networks[config.model.architecture]}) has no '
                         f'{field.split("_")[0]}: set config.model.{field} to 0.')
  if config.model.encoder == choices.NOISE_INPUT_ENCODER:
    raise ValueError("config.model.encoder='noise' is for the mixture's MLP; image models "
                     "take 'gaussian' (ALI) or 'deterministic' (BiGAN).")
  if config.model.condition_dim and config.dataset != 'celeba':
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: only celeba '
                     'has attributes to condition on; set it to 0.')
  if config.model.condition_dim not in (0, datasets.CELEBA_ATTRIBUTES):
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: CelebA has '
                     f'{datasets.CELEBA_ATTRIBUTES} attributes; set it to 0 or '
                     f'{datasets.CELEBA_ATTRIBUTES}.')
