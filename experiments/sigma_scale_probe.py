"""What bounds ALI's exp sigma: does D's verdict change with the scale of the real pairs' z?

  python experiments/sigma_scale_probe.py \
      --workdirs=runs/digits/ali/seed_1,runs/digits/ali/seed_2 \
      --output=experiments/results/sigma_scale_probe.md

ALI's encoder outputs z = mu + sigma * noise with sigma = exp(a), unbounded. Only D can
hold sigma back: if the real pairs (x, E(x)) look less real to D as E(x) grows, the
encoder's loss grows with sigma. For each discriminator below, the real pairs' z is
scaled by e^s and the table gives, at s = 0, 2, 5, 10, 15, the derivative of the
encoder+generator loss (losses.generator_loss) with respect to s and the spread (std)
of D's logits on the real and the generated pairs, D in training mode as the step runs
it (batch statistics), on one batch of 100 training images and 100 prior draws:

  - BiGAN's MLPs (configs/bigan_digits_mlp.py) at initialisation, D called on each kind
    of pair with its own batch statistics ('separate', BiGAN's code and the digits
    table's ALI row), and on both at once ('joint');
  - the ALI paper's conv nets for 32x32 digits (configs/digits.py) at initialisation,
    'joint' as ALI's code runs them: their D_z has no batch norm;
  - each --workdirs run at its last checkpoint, with its own E(x) as the unscaled z
    (named by its workdir's last two folders, e.g. 'ali seed_1').

A derivative that falls towards 0 as s grows means D cannot see z's scale: nothing in
the loss holds sigma back, and Adam, which divides each update by the gradient's own
recent size, turns even a vanishing gradient of steady sign into full-size steps of a.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from ali_jax import data
from ali_jax import losses
from ali_jax.runs import checkpoints
from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from configs import bigan_digits_mlp
from configs import digits
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('workdirs', [], 'Finished runs whose last checkpoint is probed too.')
flags.DEFINE_list('scales', ['0', '2', '5', '10', '15'], 'Values of s: z of the real pairs '
                  'times e^s.')
flags.DEFINE_string('output', None, 'The report (.md); its record beside it.')

BATCH = 100


def _state_at_init(config):
  run = run_setup.RunSetup(config, axis_name=None)
  return run, state_lib.create_train_state(run)


def _state_at_end(workdir):
  config = workdir_lib.load_config(workdir)
  run = run_setup.RunSetup(config, axis_name=None)
  manager = checkpoints.make_manager(workdir, create=False)
  try:
    return run, checkpoints.restore(manager, state_lib.create_train_state(run), None)
  finally:
    manager.close()


def probe(run, state, batches, *, real_z_from_encoder):
  """[(s, dLoss/ds, real logit std, fake logit std)] for the run's D at `state`."""
  variables = lambda network: {'params': network.params, 'batch_stats': network.batch_stats}
  nets, config = run.networks, run.config
  x = jnp.asarray(next(iter(batches))['x'][:BATCH])
  key_z, key_noise = jax.random.split(jax.random.PRNGKey(0))
  z = jax.random.normal(key_z, (BATCH, run.latent_dim))
  x_fake = nets.generator.apply(variables(state.generator), z, train=False)
  z_real = (nets.encoder.apply(variables(state.encoder), x,
                               jax.random.normal(key_noise, (BATCH, run.latent_dim)),
                               train=False)
            if real_z_from_encoder else jax.random.normal(key_noise, (BATCH, run.latent_dim)))

  def discriminate(x_batch, z_batch):
    logits, _ = nets.discriminator.apply(
        variables(state.discriminator), x_batch, z_batch, train=True,
        mutable=['batch_stats'], rngs={'dropout': jax.random.PRNGKey(1)})
    return logits

  def logits_at(s):
    scaled = jnp.exp(s) * z_real
    if config.model.discriminator_batches == choices.SEPARATE:
      return discriminate(x, scaled), discriminate(x_fake, z)
    both = discriminate(jnp.concatenate([x, x_fake]), jnp.concatenate([scaled, z]))
    return both[:BATCH], both[BATCH:]

  loss = lambda s: losses.generator_loss(*logits_at(s))
  rows = []
  for s in map(float, FLAGS.scales):
    real, fake = logits_at(s)
    rows.append((s, float(jax.grad(loss)(s)), float(real.std()), float(fake.std())))
  return rows


def _cases():
  """(name, run, state, batches, real z from the encoder?) for each D probed."""
  for name, config in (
      ("BiGAN's MLPs, init, separate", bigan_digits_mlp.get_config()),
      ("BiGAN's MLPs, init, joint", bigan_digits_mlp.get_config()),
      ("ALI's digits conv nets, init, joint", digits.get_config())):
    if name.endswith('joint'):
      config.model.discriminator_batches = choices.JOINT
    config.method, config.model.encoder = choices.ALI, choices.GAUSSIAN_ENCODER
    config.model.prior = choices.GAUSSIAN_PRIOR
    run, state = _state_at_init(config)
    yield name, run, state, data.load_dataset(config), False
  for workdir in FLAGS.workdirs:
    run, state = _state_at_end(workdir)
    folder, run_name = os.path.split(os.path.normpath(workdir))
    yield (f'{os.path.basename(folder)} {run_name}, step {int(state.step):,}, '
           f'{run.config.model.discriminator_batches}', run, state,
           data.load_dataset(run.config), True)


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  lines = ['| discriminator | s | dLoss_EG/ds | D logit std, real pairs | '
           'D logit std, generated pairs |', '|---|---|---|---|---|']
  numbers = {}
  for name, run, state, dataset, from_encoder in _cases():
    batches = dataset.batches(0, global_batch_size=BATCH)
    rows = probe(run, state, batches, real_z_from_encoder=from_encoder)
    numbers[name] = [dict(s=s, gradient=g, real_std=r, fake_std=f) for s, g, r, f in rows]
    for s, g, r, f in rows:
      lines.append(f'| {name} | {s:g} | {g:+.3g} | {r:.3g} | {f:.3g} |')
  report = '\n\n'.join([
      '# What bounds ALI\'s exp sigma: D\'s verdict against the scale of the real pairs\' z',
      reporting.provenance(recorder.commit, recorder.wall_s),
      (__doc__.split('\n\n', 2)[2].split('\n\nA derivative')[0]).strip(),
      '\n'.join(lines), ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, title='What bounds ALI\'s exp sigma',
                          numbers=numbers)


if __name__ == '__main__':
  app.run(main)
