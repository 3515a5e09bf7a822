"""What every experiment report records: the command, the commit and the wall time."""
import os
import sys

import numpy as np

from ali_jax.runs import provenance as provenance_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_commit():
  """The checkout's short commit hash ('unknown' outside git). Take it when the
  experiment starts: the report must name the code that ran, not a later commit."""
  return provenance_lib.code_version(REPO)['commit']


def machine(cpuinfo_path='/proc/cpuinfo'):
  """This host as a run record names it: CPU model, family/model/stepping, cores, ISA."""
  return provenance_lib.machine_name(provenance_lib.machine(cpuinfo_path))


def provenance(commit, wall_s, detail=''):
  """The report line that lets anyone regenerate it."""
  return (f'Command: `python {" ".join(sys.argv)}`  \nCommit: `{commit}`; wall time '
          f'{wall_s:.0f} s on {machine()}{detail}.')


def json_provenance():
  """The fields that make a benchmark's JSON its own record: command, commit, dirty
  flag, machine (experiments/records.py), package versions and start time."""
  code = provenance_lib.code_version(REPO)
  return dict(command=f'python {" ".join(sys.argv)}', commit=code['commit'],
              dirty=code['dirty'], machine=machine(), packages=provenance_lib.package_versions(),
              started=provenance_lib.now())


def write_text(path, text):
  """Writes `text` to `path`, creating its folder."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def sample_std(values):
  """The sample std (ddof=1) of `values`; 0 for one value."""
  values = np.asarray(values, dtype=float)
  return values.std(ddof=1) if len(values) > 1 else 0.0


def mean_std(values, number_format):
  """'mean +- std' of `values` (the sample std, ddof=1; 0 for one value), each number
  written with `number_format` (e.g. '{:.2%}')."""
  return (f'{number_format.format(np.mean(values))} +- '
          f'{number_format.format(sample_std(values))}')


def paired_interval(a, b, confidence=0.95):
  """(mean of a - b, low, high): the mean paired difference of two rows measured on the
  same seeds and its t interval (n - 1 degrees of freedom); low = high = nan for one pair."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
  mean = float(differences.mean())
  if len(differences) < 2:
    return mean, float('nan'), float('nan')
  half = (stats.t.ppf(0.5 + confidence / 2, len(differences) - 1)
          * differences.std(ddof=1) / np.sqrt(len(differences)))
  return mean, mean - half, mean + half


def count_range(counts):
  """'mean +- std [min, max]' of integer counts (modes covered; sample std, ddof=1)."""
  counts = np.asarray(counts)
  return f'{counts.mean():.1f} +- {sample_std(counts):.1f} [{counts.min()}, {counts.max()}]'

