"""What every experiment report records: the command, the commit and the wall time."""
import os
import platform
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_commit():
  """The checkout's short commit hash ('unknown' outside git). Take it when the
  experiment starts: the report must name the code that ran, not a later commit."""
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True, check=True, cwd=REPO).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


# Vector instruction sets, widest first: XLA compiles its CPU kernels for the widest one a
# CPU has, so the same run can round differently (and a GAN drift apart) on CPUs that differ.
VECTOR_ISAS = ('avx512f', 'avx2', 'avx', 'sse4_2', 'asimd')


def machine(cpuinfo_path='/proc/cpuinfo'):
  """This host as a run record names it: 'CPU model, N cores, widest vector ISA'."""
  fields = {}
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        key, _, value = line.partition(':')
        fields.setdefault(key.strip().lower(), value.strip())
  except OSError:
    pass
  model = fields.get('model name') or platform.processor() or platform.machine()
  flags = set((fields.get('flags') or fields.get('features') or '').split())
  isa = next((name for name in VECTOR_ISAS if name in flags), 'vector ISA unknown')
  return f'{model}, {os.cpu_count()} cores, {isa}'


def provenance(commit, wall_s, detail=''):
  """The report line that lets anyone regenerate it."""
  return (f'Command: `python {" ".join(sys.argv)}`  \nCommit: `{commit}`; wall time '
          f'{wall_s:.0f} s on {os.cpu_count()} CPU cores{detail}.')


def write_text(path, text):
  """Writes `text` to `path`, creating its folder."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def mean_std(values, number_format):
  """'mean +- std' of `values`, each number written with `number_format` (e.g. '{:.2%}')."""
  return f'{number_format.format(np.mean(values))} +- {number_format.format(np.std(values))}'


def count_range(counts):
  """'mean +- std [min, max]' of integer counts (modes covered), the ALI paper's way."""
  counts = np.asarray(counts)
  return f'{counts.mean():.1f} +- {counts.std():.1f} [{counts.min()}, {counts.max()}]'
