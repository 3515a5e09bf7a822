"""Where a result came from: the code, the packages, the machine and the time.

A run (main.py writes record.json in its workdir) and every experiment report
(experiments/records.py) carry these, because a number means little without
them: the same code and seed of a GAN run can end elsewhere on another CPU
(float reduction order follows the CPU's vector width), and a commit without
its dirty flag does not name the code that ran.
"""
import datetime
import importlib.metadata
import os
import platform
import subprocess

SOURCE_TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The packages whose versions a record names: those that compute the numbers.
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'tensorflow-datasets',
            'ml-collections', 'numpy', 'scipy', 'scikit-learn', 'tensorflow', 'tensorflow-cpu')

# Vector instruction sets, widest first: XLA compiles its CPU kernels for the widest one a
# CPU has, so the same run can round differently (and a GAN drift apart) on CPUs that differ.
VECTOR_ISAS = ('avx512f', 'avx2', 'avx', 'sse4_2', 'asimd')

UNKNOWN = 'unknown'


def code_version(tree=SOURCE_TREE):
  """{'commit': short hash, 'dirty': whether tracked files differ from it}; both
  'unknown' outside a git checkout (an installed wheel)."""
  def git(*args):
    return subprocess.run(['git', *args], capture_output=True, text=True, check=True,
                          cwd=tree).stdout.strip()
  try:
    commit = git('rev-parse', '--short', 'HEAD')
    dirty = bool(git('status', '--porcelain', '--untracked-files=no'))
  except (OSError, subprocess.CalledProcessError):
    return {'commit': UNKNOWN, 'dirty': UNKNOWN}
  return {'commit': commit, 'dirty': dirty}


def package_versions(names=PACKAGES):
  """{package: version} of those of `names` that are installed."""
  versions = {}
  for name in names:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      pass
  return versions


def machine(cpuinfo_path='/proc/cpuinfo'):
  """This host's CPU: model name, family/model/stepping, cores, widest vector ISA.

  Family, model and stepping tell apart hosts that share a model name (two
  "AMD EPYC" machines here ran the same networks at different speeds).
  """
  fields = {}
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        key, _, value = line.partition(':')
        fields.setdefault(key.strip().lower(), value.strip())
  except OSError:
    pass
  flags = set((fields.get('flags') or fields.get('features') or '').split())
  return {
      'cpu': fields.get('model name') or platform.processor() or platform.machine(),
      'family': fields.get('cpu family', UNKNOWN),
      'model': fields.get('model', UNKNOWN),
      'stepping': fields.get('stepping', UNKNOWN),
      'cores': os.cpu_count(),
      'isa': next((name for name in VECTOR_ISAS if name in flags), 'vector ISA unknown'),
  }


def machine_name(info):
  """'CPU, family F model M stepping S, N cores, ISA': one line for a machine() dict."""
  return (f'{info["cpu"]}, family {info["family"]} model {info["model"]} stepping '
          f'{info["stepping"]}, {info["cores"]} cores, {info["isa"]}')


def run_record(previous, *, command, config, session, numbers):
  """A main.py run's record.json: its command and config, one entry per session
  (invocation: a resumed run has several, each with its own code and machine),
  and the numbers of its last evaluation.

  session: {'started', 'wall_s', 'steps': [first, last], 'devices'} of this one.
  """
  previous = previous or {}
  session = dict(session, **code_version(), machine=machine(), packages=package_versions())
  return dict(name='run', command=command, config=config,
              sessions=previous.get('sessions', []) + [session],
              numbers=numbers if numbers is not None else previous.get('numbers'))


def now():
  """The current UTC time, to the second, ISO 8601."""
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
