"""Pure ALI/BiGAN losses on discriminator logits, and the comparison methods' terms.

Nothing here knows about networks, configs or devices: every function takes
arrays (logits, or data and latents) and returns a scalar or one value per
example, so it can be imported alone, jitted and differentiated in any
research code.

Naming follows the ALI paper (Dumoulin et al. 2017, and its official code):
  * ``real_logits`` d_q = D(x, E(x)): pairs from the encoder joint q(x, z);
  * ``fake_logits`` d_p = D(G(z), z): pairs from the decoder joint p(x, z).
D is trained to tell them apart (label 1 for q, 0 for p); the encoder and the
generator are trained to make D swap its labels.
"""
import jax
import jax.numpy as jnp
from jax.nn import sigmoid, softplus

from ali_jax.settings import choices


def discriminator_loss(real_logits, fake_logits):
  """L_D = mean(softplus(-d_q)) + mean(softplus(d_p)).

  That is -E_q[log D(x, z)] - E_p[log(1 - D(x, z))], the binary cross-entropy of
  D with encoder pairs labelled 1 and decoder pairs labelled 0.
  """
  return jnp.mean(softplus(-real_logits)) + jnp.mean(softplus(fake_logits))


def generator_loss(real_logits, fake_logits, *, form=choices.NON_SATURATING):
  """The loss that the encoder and the generator minimise together.

  form='non_saturating' (the paper's code, the default): labels swapped,
    L_G = mean(softplus(d_q)) + mean(softplus(-d_p))
        = -E_q[log(1 - D(x, z))] - E_p[log D(x, z)].
  form='minimax' (the value function of the two-player game, saturating):
    L_G = -L_D = E_q[log D(x, z)] + E_p[log(1 - D(x, z))]
        = -mean(softplus(-d_q)) - mean(softplus(d_p)).
  """
  if form == choices.NON_SATURATING:
    return jnp.mean(softplus(real_logits)) + jnp.mean(softplus(-fake_logits))
  if form == choices.MINIMAX:
    return -discriminator_loss(real_logits, fake_logits)
  raise ValueError(f'Unknown generator loss form {form!r}; '
                   f'expected one of {choices.LOSS_FORMS}.')


def summed_over_views(loss, real_scores, fake_scores, **kwargs):
  """`loss` (discriminator_loss or generator_loss) on each column of (batch, views) scores,
  summed: ALI's loss on each of D's views of a pair, as BigBiGAN's paper sums its three
  (s_xz, s_x, s_z; Donahue & Simonyan 2019, eq. 3-4). The joint view keeps ALI's weight."""
  return sum(loss(real_scores[:, i], fake_scores[:, i], **kwargs)
             for i in range(real_scores.shape[-1]))


def real_confidence(real_logits):
  """mean(sigmoid(d_q)): D's mean probability that q pairs are q pairs.

  The paper's code logs it as "data_accuracy", but it is a mean confidence,
  not a share of correct decisions.
  """
  return jnp.mean(sigmoid(real_logits))


def fake_confidence(fake_logits):
  """mean(1 - sigmoid(d_p)): D's mean probability that p pairs are p pairs
  (the paper's "sample_accuracy")."""
  return jnp.mean(sigmoid(-fake_logits))


# ---- Terms of the comparison methods (on arrays, not logits) --------------------

def per_example_sum(a):
  """(batch, ...) -> (batch,): the sum over everything but the batch axis."""
  return a.reshape(a.shape[0], -1).sum(-1)


def latent_regression_loss(z, z_reconstructed):
  """mean over the batch of ||z - E(G(z))||^2 (the latent regressor, BiGAN's LR)."""
  return jnp.mean(per_example_sum((z - z_reconstructed) ** 2))


def uniform_latent_regression_loss(z, encoder_logits):
  """The latent regressor's loss under BiGAN's U(-1, 1) prior: the sigmoid
  cross-entropy of E's logits a (z_hat = 2 sigmoid(a) - 1) against (z + 1) / 2,
  summed over latent dimensions, mean over the batch."""
  target = (z + 1.0) / 2.0
  # -t log sigmoid(a) - (1 - t) log(1 - sigmoid(a)) = softplus(a) - t a
  return jnp.mean(per_example_sum(softplus(encoder_logits) - target * encoder_logits))


def cycle_loss(x, x_reconstructed, z, z_reconstructed):
  """ALICE's explicit cycle loss (Li et al. 2017): mean |x - G(E(x))| + mean |z - E(G(z))|,
  each a mean over elements."""
  return jnp.mean(jnp.abs(x - x_reconstructed)) + jnp.mean(jnp.abs(z - z_reconstructed))


def reconstruction_loss(x, x_reconstructed, norm='l2'):
  """mean over the batch of ||x - G(E(x))||_2^2 ('l2') or ||x - G(E(x))||_1 ('l1'):
  the autoencoder baselines of the BiGAN paper's Table 1."""
  if norm not in choices.RECONSTRUCTION_NORMS:
    raise ValueError(f'norm must be one of {choices.RECONSTRUCTION_NORMS}, got {norm!r}.')
  difference = x - x_reconstructed
  return jnp.mean(per_example_sum(difference ** 2 if norm == 'l2' else jnp.abs(difference)))


def gaussian_kl_to_prior(mu, log_sigma):
  """KL(N(mu, sigma^2) || N(0, I)) per example: the VAE's KL term."""
  return 0.5 * per_example_sum(mu ** 2 + jnp.exp(2 * log_sigma) - 1 - 2 * log_sigma)


# ---- K+1-class semi-supervised ALI (docs/papers.md section 6) ---------------------------
# D(x, z) outputs K class logits l; the fake class K+1 has its logit fixed at 0
# (Salimans et al. 2016), so p(real | x, z) = sum_k exp(l_k) / (1 + sum_k exp(l_k))
# = sigmoid(logsumexp(l)): logsumexp(l) is the real/fake logit of ALI's losses.

def real_logit_from_class_logits(class_logits):
  """(batch, K) class logits -> (batch,) logit of "real" (a q pair, any of the K classes)."""
  return jax.nn.logsumexp(class_logits, axis=-1)


def classification_loss(class_logits, labels):
  """mean cross-entropy of integer `labels` under softmax(class_logits) over the K classes.

  With the fake class's logit at 0 this is -log p(y | x, z, real), Salimans et
  al.'s supervised term.
  """
  log_probabilities = jax.nn.log_softmax(class_logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_probabilities, labels[:, None], axis=-1))


def classification_accuracy(class_logits, labels):
  """The share of rows whose largest class logit is at the label."""
  return jnp.mean((jnp.argmax(class_logits, axis=-1) == labels).astype(jnp.float32))


def semi_supervised_discriminator_loss(labelled_logits, labels, unlabelled_logits,
                                       fake_logits, *, unsupervised_weight=0.5):
  """The K+1-class D's loss: classification_loss on labelled q pairs, plus
  unsupervised_weight x ALI's discriminator_loss on the real logits of
  unlabelled q pairs (any of the K classes) and p pairs (the class K+1).

  Salimans et al.'s code weighs the unsupervised term 1/2 (its loss_unl =
  -1/2 mean lse(l_unl) + 1/2 mean softplus(lse(l_unl)) + 1/2 mean softplus(lse(l_gen)),
  which is 1/2 of discriminator_loss since softplus(a) - a = softplus(-a)).
  """
  return classification_loss(labelled_logits, labels) + unsupervised_weight * (
      discriminator_loss(real_logit_from_class_logits(unlabelled_logits),
                         real_logit_from_class_logits(fake_logits)))


# ---- BigBiGAN (Donahue & Simonyan 2019; docs/papers.md), as its TF Hub module computes it ----
# D scores a pair three ways: s_xz (the joint head J), s_x (the unary x branch F)
# and s_z (the unary z branch H), one row [s_xz, s_x, s_z] per pair. "Encoder
# scores" are those of (x, E(x)), "generator scores" those of (G(z), z). Every
# loss is a mean over all 3N scores, so each of the three has weight 1/3.

def bigbigan_discriminator_loss(encoder_scores, generator_scores):
  """L_D = mean(relu(1 - encoder scores)) + mean(relu(1 + generator scores)): the hinge."""
  return (jnp.mean(jax.nn.relu(1.0 - encoder_scores))
          + jnp.mean(jax.nn.relu(1.0 + generator_scores)))


def bigbigan_encoder_loss(encoder_scores):
  """L_E = mean(encoder scores): E makes its pairs look generated (linear, not a hinge)."""
  return jnp.mean(encoder_scores)


def bigbigan_generator_loss(generator_scores):
  """L_G = -mean(generator scores): G makes its pairs look real (linear, not a hinge)."""
  return -jnp.mean(generator_scores)


# ---- Diagnostics of the pairing (metrics, never minimised) --------------------------------

# The diagnostics' names: metrics that training logs but never minimises, and whose
# non-finite values (an unbounded sigma's exp overflowing) stop or skip nothing.
DIAGNOSTICS = ('pairing_logit_gap', 'pairing_accuracy', 'posterior_std',
               'posterior_mean_share')


def pairing_metrics(matched_logits, mismatched_logits):
  """How well D tells the real pairs (x_i, E(x_i)) from mismatched ones (x_i, E(x_j)),
  j != i: pairs of real data and real codes that do not belong together.

  A D that cannot tell them apart checks nothing about inference, whatever its real/fake
  loss: only the marginals of x and z would be matched.
  pairing_logit_gap: mean(matched - mismatched), 0 at chance.
  pairing_accuracy: the share of x_i whose own code scores higher (ties count half),
  0.5 at chance. Either side of chance is a D that checks the pairing: below it, D takes
  the generator's pairs (G(z), z), matched by construction, for the better matched, and
  E's loss (make D call its pairs generated) pulls E(x) towards x's own code.
  """
  gap = matched_logits - mismatched_logits
  return dict(pairing_logit_gap=jnp.mean(gap),
              pairing_accuracy=jnp.mean(jnp.where(gap > 0, 1.0, jnp.where(gap == 0, 0.5, 0.0))))


def posterior_metrics(mu, log_sigma):
  """A Gaussian encoder's posterior q(z|x) = N(mu(x), sigma(x)^2) over a batch of x.

  posterior_std: the mean of sigma. posterior_mean_share: the share of the variance of
  z ~ q(z|x), x ~ data, that the means explain (law of total variance, summed over the
  latent dimensions): sum Var_x(mu) / sum (Var_x(mu) + E_x sigma^2). Near 1, E(x)
  carries x's code; near 0, it is noise around a code that ignores x.
  """
  between = jnp.sum(jnp.var(mu, axis=0))
  within = jnp.sum(jnp.mean(jnp.exp(2 * log_sigma), axis=0))
  return dict(posterior_std=jnp.mean(jnp.exp(log_sigma)),
              posterior_mean_share=between / (between + within))
