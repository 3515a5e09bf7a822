"""Pure ALI/BiGAN losses on discriminator logits.

Nothing here knows about networks, configs or devices: every function takes
arrays of logits and returns a scalar, so it can be imported alone, jitted and
differentiated in any research code.

Naming follows the ALI paper (Dumoulin et al. 2017, and its official code):
  * ``real_logits`` d_q = D(x, E(x)): pairs from the encoder joint q(x, z);
  * ``fake_logits`` d_p = D(G(z), z): pairs from the decoder joint p(x, z).
D is trained to tell them apart (label 1 for q, 0 for p); the encoder and the
generator are trained to make D swap its labels.
"""
import jax.numpy as jnp
from jax.nn import sigmoid, softplus

NON_SATURATING = 'non_saturating'
MINIMAX = 'minimax'
LOSS_FORMS = (NON_SATURATING, MINIMAX)


def discriminator_loss(real_logits, fake_logits):
  """L_D = mean(softplus(-d_q)) + mean(softplus(d_p)).

  That is -E_q[log D(x, z)] - E_p[log(1 - D(x, z))], the binary cross-entropy of
  D with encoder pairs labelled 1 and decoder pairs labelled 0.
  """
  return jnp.mean(softplus(-real_logits)) + jnp.mean(softplus(fake_logits))


def generator_loss(real_logits, fake_logits, *, form=NON_SATURATING):
  """The loss that the encoder and the generator minimise together.

  form='non_saturating' (the paper's code, the default): labels swapped,
    L_G = mean(softplus(d_q)) + mean(softplus(-d_p))
        = -E_q[log(1 - D(x, z))] - E_p[log D(x, z)].
  form='minimax' (the value function of the two-player game, saturating):
    L_G = -L_D = E_q[log D(x, z)] + E_p[log(1 - D(x, z))]
        = -mean(softplus(-d_q)) - mean(softplus(d_p)).
  """
  if form == NON_SATURATING:
    return jnp.mean(softplus(real_logits)) + jnp.mean(softplus(-fake_logits))
  if form == MINIMAX:
    return -discriminator_loss(real_logits, fake_logits)
  raise ValueError(f'Unknown generator loss form {form!r}; '
                   f'expected one of {LOSS_FORMS}.')


def real_accuracy(real_logits):
  """The paper's data_accuracy: mean(sigmoid(d_q)), D's confidence on q pairs."""
  return jnp.mean(sigmoid(real_logits))


def fake_accuracy(fake_logits):
  """The paper's sample_accuracy: mean(1 - sigmoid(d_p)), on p pairs."""
  return jnp.mean(sigmoid(-fake_logits))
