"""K+1-class semi-supervised ALI and its supervised baseline (choices.LABELLED_METHODS)."""
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ali_jax
from ali_jax import data
from ali_jax import losses
from ali_jax.config import validation
from ali_jax.data import labelled as labelled_lib
from ali_jax.hosts import devices
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import trainer
from configs import digits
from configs import fashion_mnist_semi_supervised
from tests import helpers
from tests.conftest import NUM_DEVICES

LN = np.log


# ---- The losses, by hand -----------------------------------------------------------

def test_real_logit_and_classification_loss_by_hand():
  logits = jnp.array([[0.0, LN(3.0)]])  # class probabilities 1/4, 3/4 given "real"
  # p(real) = (1 + 3) / (1 + 1 + 3): the logit of "real" is log(1 + 3).
  np.testing.assert_allclose(losses.real_logit_from_class_logits(logits), [LN(4.0)],
                             rtol=1e-6)
  np.testing.assert_allclose(losses.classification_loss(logits, jnp.array([1])),
                             LN(4 / 3), rtol=1e-6)
  np.testing.assert_allclose(losses.classification_loss(logits, jnp.array([0])), LN(4.0),
                             rtol=1e-6)
  assert float(losses.classification_accuracy(logits, jnp.array([1]))) == 1.0


def test_semi_supervised_discriminator_loss_by_hand():
  labelled = jnp.array([[0.0, LN(3.0)]])               # label 1: -log 3/4
  unlabelled = jnp.array([[0.0, 0.0]])                 # real logit log 2: -log(2/3)
  fake = jnp.array([[LN(0.5), LN(0.5)]])               # real logit 0: -log(1/2)
  expected = LN(4 / 3) + 0.5 * (LN(3 / 2) + LN(2.0))
  np.testing.assert_allclose(losses.semi_supervised_discriminator_loss(
      labelled, jnp.array([1]), unlabelled, fake), expected, rtol=1e-6)
  np.testing.assert_allclose(losses.semi_supervised_discriminator_loss(
      labelled, jnp.array([1]), unlabelled, fake, unsupervised_weight=0.0), LN(4 / 3),
                             rtol=1e-6)


def test_unsupervised_term_is_salimans_et_als_loss_unl():
  rng = np.random.default_rng(0)
  unlabelled, fake = rng.normal(size=(2, 16, 10)) * 3
  lse = lambda l: jax.nn.logsumexp(l, axis=-1)
  softplus = jax.nn.softplus
  loss_unl = (-0.5 * jnp.mean(lse(unlabelled)) + 0.5 * jnp.mean(softplus(lse(unlabelled)))
              + 0.5 * jnp.mean(softplus(lse(fake))))
  labelled, labels = jnp.zeros((1, 10)), jnp.array([0])
  ours = losses.semi_supervised_discriminator_loss(labelled, labels, unlabelled, fake)
  np.testing.assert_allclose(ours - LN(10.0), loss_unl, rtol=1e-5)


def test_discriminator_loss_has_a_gradient_from_each_of_its_three_terms():
  rng = np.random.default_rng(1)
  labelled, unlabelled, fake = (jnp.asarray(rng.normal(size=(4, 10))) for _ in range(3))
  grads = jax.grad(losses.semi_supervised_discriminator_loss, argnums=(0, 2, 3))(
      labelled, jnp.array([0, 1, 2, 3]), unlabelled, fake)
  for grad in grads:
    assert float(jnp.abs(grad).sum()) > 1e-3


# ---- The labelled subset and its batches ------------------------------------------

def test_balanced_subset_is_balanced_deterministic_and_reads_little():
  labels = np.repeat(np.arange(10), 100)
  read = []
  label_of = lambda i: read.append(i) or labels[i]
  subset = labelled_lib.balanced_subset(label_of, 1000, num_labels=50, num_classes=10,
                                        seed=3)
  assert len(set(subset)) == 50
  np.testing.assert_array_equal(np.bincount(labels[subset]), [5] * 10)
  assert len(read) < 1000  # it stops as soon as every class is full
  np.testing.assert_array_equal(subset, labelled_lib.balanced_subset(
      lambda i: labels[i], 1000, num_labels=50, num_classes=10, seed=3))
  assert set(subset) != set(labelled_lib.balanced_subset(
      lambda i: labels[i], 1000, num_labels=50, num_classes=10, seed=4))
  with pytest.raises(labelled_lib.NotEnoughLabels, match=r'num_labels=2000.*200 examples'):
    labelled_lib.balanced_subset(lambda i: labels[i], 1000, num_labels=2000,
                                 num_classes=10, seed=0)


def test_labelled_batches_walk_fresh_permutations_of_the_subset():
  # 10 examples, batches of 4: steps 0-4 cover two passes, each a permutation.
  positions = np.concatenate([labelled_lib.batch_positions(s, 4, 10, seed=0)
                              for s in range(5)])
  assert sorted(positions[:10]) == list(range(10)) == sorted(positions[10:20])
  assert list(positions[:10]) != list(positions[10:20])
  np.testing.assert_array_equal(labelled_lib.batch_positions(3, 4, 10, seed=0),
                                positions[12:16])
  big = labelled_lib.batch_positions(0, 25, 10, seed=0)  # larger than the subset:
  counts = np.bincount(big, minlength=10)  # two whole passes and half of a third
  assert sorted(counts) == [2] * 5 + [3] * 5


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tfds'))


def _digits_config(data_dir, method='semi_supervised', **changes):
  config = digits.get_config()
  config.update_from_flattened_dict({
      'method': method, 'batch_size': 8, 'num_train_steps': 3, 'log_every_steps': 1,
      'checkpoint_every_steps': 3, 'eval_every_steps': 100, 'data.data_dir': data_dir,
      'data.num_heldout': 20, 'data.num_eval_samples': 4,
      'evaluation.class_metrics': False, 'method_options.num_labels': 30, **changes})
  return config


def test_labelled_batches_are_the_same_after_resume_and_across_hosts(digits_dir):
  dataset = data.load_dataset(_digits_config(digits_dir))
  subset = dataset.labelled
  np.testing.assert_array_equal(np.bincount(subset.labels), [3] * 10)
  again = data.load_dataset(_digits_config(digits_dir)).labelled
  np.testing.assert_array_equal(again.images, subset.images)
  first = [b['label'] for _, b in zip(range(6), dataset.batches(0, global_batch_size=8))]
  resumed = [b['label'] for _, b in zip(range(2), dataset.batches(4, global_batch_size=8))]
  np.testing.assert_array_equal(resumed, first[4:6])
  hosts = [next(dataset.batches(2, global_batch_size=8, process_index=p, process_count=2))
           for p in (0, 1)]
  one_host = next(dataset.batches(2, global_batch_size=8))
  for key in ('x_labelled', 'label'):
    np.testing.assert_array_equal(np.concatenate([h[key] for h in hosts]), one_host[key])
  other_seed = data.load_dataset(_digits_config(
      digits_dir, **{'method_options.labels_seed': 1})).labelled
  assert not np.array_equal(other_seed.images, subset.images)


# ---- Bad input ---------------------------------------------------------------------

@pytest.mark.parametrize('changes, message', [
    ({'method_options.num_labels': 25}, r'num_labels, a positive multiple of the 10'),
    ({'method_options.num_labels': 0}, r'num_labels, a positive multiple of the 10'),
    ({'method': 'ali'}, r'num_labels=30, but config.method=.ali. learns from no labels'),
])
def test_bad_label_settings_are_named_before_anything_is_built(digits_dir, changes,
                                                               message):
  with pytest.raises(ValueError, match=message):
    validation.check_config(_digits_config(digits_dir, **changes), device_count=1)


def test_a_dataset_without_labels_is_refused(tiny_config):
  tiny_config.method = 'semi_supervised'
  tiny_config.method_options.num_labels = 10
  with pytest.raises(ValueError, match=r"config.dataset='mixture' has none"):
    validation.check_config(tiny_config, device_count=1)


def test_more_labels_than_the_split_stops_before_the_workdir_is_touched(digits_dir,
                                                                       tmp_path):
  config = _digits_config(digits_dir, **{'method_options.num_labels': 2000})
  with pytest.raises(ValueError, match=r'num_labels=2000 is more than the 1200 examples'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


# ---- The networks and the step -----------------------------------------------------

def _fake_config(method='semi_supervised'):
  config = _digits_config('', method)
  config.data_source = 'fake'
  config.model.dropout_rate = 0.0  # dropout masks are drawn per device
  return config


def _one_step(config, batch, state=None):
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run) if state is None else state
  return state, *jax.jit(run.train_step(run.phases[0]))(state, batch)


def _fake_batch(config, step=0):
  return next(data.load_dataset(config).batches(step, global_batch_size=config.batch_size))


def test_the_discriminator_gives_one_logit_per_class():
  config = _fake_config()
  run = run_setup.RunSetup(config, axis_name=None)
  assert run.num_classes == 10
  state = state_lib.create_train_state(run)
  x, z = jnp.zeros((3, 32, 32, 1)), jnp.zeros((3, config.model.latent_dim))
  variables = {'params': state.discriminator.params,
               'batch_stats': state.discriminator.batch_stats}
  assert run.networks.discriminator.apply(variables, x, z, train=False).shape == (3, 10)
  # Only D_xz's last 1x1 layer grows: 512 inputs -> 10 outputs, each with a bias.
  ali = state_lib.create_train_state(run_setup.RunSetup(
      _digits_config('', 'ali', **{'method_options.num_labels': 0}), axis_name=None))
  count = lambda tree: sum(leaf.size for leaf in jax.tree.leaves(tree))
  last_input = [layer.features for layer in run.networks.discriminator.arch
                .discriminator_joint][-2]
  assert count(state.discriminator.params) - count(ali.discriminator.params) == (
      9 * (last_input + 1))


@pytest.mark.parametrize('method, trained', [
    ('semi_supervised', {'encoder', 'generator', 'discriminator'}),
    ('supervised', {'encoder', 'discriminator'})])
def test_each_labelled_method_trains_exactly_its_networks(method, trained):
  config = _fake_config(method)
  batch = _fake_batch(config)
  before, after, metrics = _one_step(config, batch)
  for name in choices.NETWORK_NAMES:
    changed = any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(getattr(before, name).params),
        jax.tree.leaves(getattr(after, name).params)))
    assert changed == (name in trained), name
  assert all(np.isfinite(v) for v in jax.device_get(metrics).values())
  assert 0 <= float(metrics['labelled_accuracy']) <= 1
  # The K+1 D judges encoder pairs; the supervised classifier has no real/fake view.
  assert ('pairing_accuracy' in metrics) == (method == 'semi_supervised')


def test_labels_reach_d_alone_and_the_real_fake_terms_reach_d():
  """E and G descend the adversarial loss only: other labels leave their update
  exactly as it was, and move D's. Without the real/fake terms D moves otherwise."""
  config = _fake_config()
  batch = _fake_batch(config)
  state, base, _ = _one_step(config, batch)
  relabelled = dict(batch, label=(batch['label'] + 1) % 10)
  _, other_labels, _ = _one_step(config, relabelled, state)
  same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                               jax.tree.leaves(b)))
  assert same(base.encoder.params, other_labels.encoder.params)
  assert same(base.generator.params, other_labels.generator.params)
  assert not same(base.discriminator.params, other_labels.discriminator.params)
  config.method_options.unsupervised_weight = 0.0
  _, labels_only, _ = _one_step(config, batch, state)
  assert not same(base.discriminator.params, labels_only.discriminator.params)


def test_pmap_over_devices_equals_one_device():
  config = _fake_config()
  batches = [_fake_batch(config, s) for s in range(2)]
  run = run_setup.RunSetup(config)
  state = state_lib.create_train_state(run)
  results = []
  for count in (1, NUM_DEVICES):
    step = jax.pmap(run.train_step(run.phases[0]), axis_name=devices.AXIS_NAME,
                    in_axes=(None, 0), out_axes=(None, None),
                    devices=jax.local_devices()[:count])
    current, metrics = helpers.run_steps(step, state, batches, shard=count)
    results.append((jax.device_get(current), jax.device_get(metrics)))
  (one, one_metrics), (many, many_metrics) = results
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               many_metrics, one_metrics)
  # Adam divides by the gradient's own scale: where a gradient is near zero
  # (one of D's 16 first-layer biases here), float reduction-order noise moves
  # its update by a few percent of the rate (1e-4), not by more.
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=1e-5),
               many, one)


# ---- End to end ----------------------------------------------------------------------

def test_a_run_reports_test_error_and_the_model_classifies(digits_dir, tmp_path):
  metrics = trainer.train_and_evaluate(_digits_config(digits_dir), str(tmp_path / 'run'))
  assert 0 <= metrics['test_error'] <= 1
  assert json.loads((tmp_path / 'run' / 'eval.json').read_text()) == metrics
  model = ali_jax.load(str(tmp_path / 'run'))
  dataset = data.load_dataset(_digits_config(digits_dir))
  test = dataset.heldout('test')  # the final evaluation's
  predicted = model.classify(test.images)
  assert predicted.shape == (20,) and predicted.dtype.kind == 'i'
  assert np.mean(predicted != test.labels) == pytest.approx(metrics['test_error'])
  assert model.class_logits(test.images[:3]).shape == (3, 10)


def test_an_unlabelled_model_does_not_classify(digits_dir, tmp_path):
  config = _digits_config(digits_dir, 'ali', **{'method_options.num_labels': 0,
                                                'num_train_steps': 1})
  metrics = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert 'test_error' not in metrics
  with pytest.raises(ValueError, match='not a classifier'):
    ali_jax.load(str(tmp_path / 'run')).classify(np.zeros((1, 32, 32, 1), np.float32))


def test_the_cpu_config_is_valid():
  config = fashion_mnist_semi_supervised.get_config()
  validation.check_config(config, device_count=1)
  assert config.method_options.num_labels == 1000


@pytest.mark.parametrize('method', ['semi_supervised', 'supervised'])
def test_each_labelled_network_gets_the_gradient_of_its_own_loss_only(method):
  config = _fake_config(method)
  helpers.assert_each_network_gets_its_own_loss_gradient(config, _fake_batch(config),
                                                        jit_references=True)
