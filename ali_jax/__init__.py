"""ali_jax: Adversarially Learned Inference (ALI) and BiGAN in JAX/Flax.

`ali_jax.load(workdir)` gives a trained model; `ali_jax.losses` holds the pure
losses. The inference API is imported lazily so that `import ali_jax.losses`
pulls in nothing but JAX.
"""

__all__ = ['load', 'TrainedModel']


def __getattr__(name):
  if name in __all__:
    from ali_jax import inference  # pylint: disable=g-import-not-at-top
    return getattr(inference, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
