"""Which family of networks builds model.architecture: the one place that knows them all.

A family is a module with
  build(model, *, data_shape, axis_name, dtype, discriminator_outputs)
      -> common.Networks
whose architecture names are listed in settings/choices.py (ARCHITECTURE_FAMILIES).
The families import common.py, never each other; adding one is a new module, its
names in settings/choices.py, its image size in config/validation.py and one line in
FAMILIES (docs/architecture.md).
"""
from ali_jax.models import ali_networks
from ali_jax.models import bigan_networks
from ali_jax.models import bigbigan_networks
from ali_jax.models import common
from ali_jax.models import mixture_networks
from ali_jax.settings import choices

FAMILIES = {
    choices.MIXTURE_FAMILY: mixture_networks.build,
    choices.ALI_CONV_FAMILY: ali_networks.build,
    choices.BIGAN_FAMILY: bigan_networks.build,
    choices.BIGBIGAN_FAMILY: bigbigan_networks.build,
}


def build_networks(model, *, data_shape, axis_name=None, discriminator_outputs=1):
  """The three networks that `model` describes.

  Args:
    model: a settings/run_settings.ModelSettings (ModelSettings.from_config(config)).
    data_shape: the shape of one data point ((2,) for the mixture, (H, W, C)
      for images).
    axis_name: the pmap axis over which batch norm statistics are averaged, or
      None outside pmap.
    discriminator_outputs: 1 (a real/fake logit), or the number of classes K
      for a K+1-class image D (its logits, the fake class's fixed at 0).
  """
  build = FAMILIES[choices.architecture_family(model.architecture)]
  return build(model, data_shape=tuple(data_shape), axis_name=axis_name,
               dtype=common.COMPUTE_DTYPES[model.dtype],
               discriminator_outputs=discriminator_outputs)
