"""Makes tests/data/checkpoint_<commit>/: a checkpoint and the numbers it must give back.

Run once, at the commit named in the folder, before the package moved into sub-packages
(issue 42), so that tests/test_compatibility.py can show that checkpoints written before
the move still restore after it:

  python tests/data/make_checkpoint_fixture.py OUT_DIR

It trains configs/mixture_tiny.py for its 12 steps into OUT_DIR/workdir (only the last
checkpoint and config.json are kept), then writes OUT_DIR/expected.json: what
ali_jax.load gives for fixed inputs, and the parameter and state names (with shapes) that
every configs/*.py file's networks have at step 0.
"""
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import ali_jax  # noqa: E402  (after the path)

try:  # the package layout after issue 42
  from ali_jax.training import run_setup, state as state_lib  # noqa: E402
except ImportError:  # before it
  from ali_jax import run_setup, state as state_lib  # noqa: E402

FIXED_SEED = 1234


def _config(path):
  spec = importlib.util.spec_from_file_location('config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def state_names(config):
  """'path: shape dtype' of every leaf of the step-0 state (no arrays are made)."""
  shapes = jax.eval_shape(lambda: state_lib.create_train_state(run_setup.RunSetup(config)))
  return [f'{jax.tree_util.keystr(path)}: {tuple(leaf.shape)} {leaf.dtype}'
          for path, leaf in jax.tree_util.tree_leaves_with_path(shapes)]


def main(out_dir):
  workdir = os.path.join(out_dir, 'workdir')
  subprocess.run([sys.executable, os.path.join(REPO, 'main.py'),
                  '--config=' + os.path.join(REPO, 'configs/mixture_tiny.py'),
                  '--workdir=' + workdir], check=True)
  for entry in os.listdir(workdir):
    if entry not in ('checkpoints', 'config.json'):
      path = os.path.join(workdir, entry)
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdir, 'checkpoints')))
  for step in steps[:-1]:
    shutil.rmtree(os.path.join(workdir, 'checkpoints', str(step)))

  model = ali_jax.load(workdir)
  rng = np.random.default_rng(FIXED_SEED)
  x = rng.normal(size=(8, 2)).astype(np.float32)
  z = rng.normal(size=(8, model.latent_dim)).astype(np.float32)
  expected = {
      'commit': subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip(),
      'step': steps[-1],
      'inputs_seed': FIXED_SEED,
      'encode': np.asarray(model.encode(x, seed=0)).tolist(),
      'decode': np.asarray(model.decode(z)).tolist(),
      'state_names': {os.path.basename(path): state_names(_config(path))
                      for path in sorted(glob.glob(os.path.join(REPO, 'configs', '*.py')))
                      if not path.endswith(('__init__.py', 'common.py'))},
  }
  with open(os.path.join(out_dir, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)


if __name__ == '__main__':
  main(sys.argv[1])
