"""The package's layout: imports run only downward, the network families stand alone.

docs/architecture.md draws the packages and who imports whom; the drawing is checked here
against the imports in the code, so a change that adds an upward import, a circle, or a
package the drawing does not show fails with the block to put in its place.
"""
import ast
import collections
import os

from ali_jax.models import ali_architectures
from ali_jax.models import bigbigan_architectures
from ali_jax.models import registry
from ali_jax.settings import choices

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, 'ali_jax')
DOC = os.path.join(REPO, 'docs', 'architecture.md')

# Floors, lowest first: a module imports only from floors below its own, or from its own
# package. A new package (or top-level module) must be given a floor here.
FLOORS = (
    ('settings',),
    ('losses', 'models', 'data', 'hosts'),
    ('config',),
    ('runs', 'evaluation'),
    ('training',),
    ('inference',),
    ('__init__',),  # ali_jax.load, imported lazily from inference
)
FLOOR = {unit: floor for floor, units in enumerate(FLOORS) for unit in units}
FAMILY_MODULES = ('mixture_networks', 'ali_networks', 'bigan_networks', 'bigbigan_networks')
MAX_MODULE_LINES = 400


def _modules():
  """{'models.common': path, 'inference': path, '__init__': path, ...}."""
  found = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        relative = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, '.')
        found[relative[:-len('.__init__')] if relative.endswith('.__init__') else relative] = path
  return found


def _resolve(name, modules):
  """The module that `ali_jax.<name>` is: itself, or the package holding it."""
  while name and name not in modules:
    name = name.rpartition('.')[0]
  return name


def import_graph():
  """{module: {modules of ali_jax it imports, at any depth of its code}}."""
  modules = _modules()
  graph = {}
  for module, path in modules.items():
    targets = set()
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, ast.ImportFrom) and node.level:
        raise AssertionError(f'{path}: relative import; name the module from ali_jax')
      if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('ali_jax'):
        base = node.module[len('ali_jax'):].lstrip('.')
        for alias in node.names:
          full = f'{base}.{alias.name}' if base else alias.name
          targets.add(_resolve(full if full in modules else base or '__init__', modules))
      elif isinstance(node, ast.Import):
        for alias in node.names:
          if alias.name.startswith('ali_jax.'):
            targets.add(_resolve(alias.name[len('ali_jax.'):], modules))
    graph[module] = targets - {module}
  return graph


def unit_of(module):
  """The package (or top-level module) that `module` belongs to."""
  return module.split('.')[0]


def package_edges(graph):
  edges = collections.defaultdict(set)
  for module, targets in graph.items():
    for target in targets:
      if unit_of(target) != unit_of(module):
        edges[unit_of(module)].add(unit_of(target))
  return edges


def drawing(graph):
  """The block of docs/architecture.md that shows the floors and who imports whom."""
  edges = package_edges(graph)
  lines = ['```', 'floor  package      imports from']
  for floor in reversed(range(len(FLOORS))):
    for unit in FLOORS[floor]:
      lines.append(f'{floor:>5}  {unit:<12} {", ".join(sorted(edges.get(unit, ()))) or "-"}')
  lines.append('```')
  return '\n'.join(lines)


def test_every_package_has_a_floor():
  assert {unit_of(module) for module in _modules()} == set(FLOOR)


def test_imports_run_only_downward():
  upward = [f'{module} -> {target}' for module, targets in import_graph().items()
            for target in targets
            if unit_of(target) != unit_of(module)
            and FLOOR[unit_of(target)] >= FLOOR[unit_of(module)]]
  assert not upward, upward


def test_no_circle_of_modules():
  graph = import_graph()
  state = {}

  def visit(module, path):
    if state.get(module) == 'open':
      raise AssertionError('circle: ' + ' -> '.join(path[path.index(module):] + [module]))
    if state.get(module) != 'done':
      state[module] = 'open'
      for target in sorted(graph[module]):
        visit(target, path + [module])
      state[module] = 'done'

  for module in sorted(graph):
    visit(module, [])


def test_network_families_import_only_what_they_share():
  graph = import_graph()
  for family in FAMILY_MODULES:
    others = graph[f'models.{family}'] & {f'models.{f}' for f in FAMILY_MODULES + ('registry',)}
    assert not others, (family, others)
  importers = {module for module, targets in graph.items()
               if targets & {f'models.{f}' for f in FAMILY_MODULES}}
  assert importers == {'models.registry'}


def test_the_registry_builds_every_family_and_the_tables_match_their_names():
  assert set(registry.FAMILIES) == set(choices.ARCHITECTURE_FAMILIES)
  assert tuple(ali_architectures.ARCHITECTURES) == choices.ALI_CONV_ARCHITECTURES
  assert tuple(bigbigan_architectures.ARCHITECTURES) == choices.BIGBIGAN_ARCHITECTURES
  names = sum(choices.ARCHITECTURE_FAMILIES.values(), ())
  assert len(names) == len(set(names))  # each architecture in one family


def test_no_module_is_over_the_size_limit():
  long = {module: n for module, path in _modules().items()
          if (n := len(open(path).read().splitlines())) > MAX_MODULE_LINES}
  assert not long, long


# Where a run's raw config may be read: the modules that check it, read it into
# settings/run_settings.py's objects, or write and compare it in a workdir ...
CONFIG_READERS = ('config', 'settings.run_settings', 'settings.datasets', 'runs')
# ... and, elsewhere, only these functions, each the door where a config comes in.
CONFIG_DOORS = {
    'data': ('load_dataset', 'labelled_split', 'labelled_chunks'),  # a config or DataSettings
    'inference': ('load',),  # reads the workdir's config.json into a RunSetup
    'training.run_setup': ('__init__',),  # RunSettings.from_config, once per run
    'training.trained_model': ('__init__',),  # keeps the saved config for the user
    'training.phase_starts': ('gan_phase_state',),  # a workdir check of the GAN phase's run
    'training.trainer': ('train_and_evaluate', '_claim_workdir', '__init__', 'save'),
}


def _config_uses(path):
  """{(function, line)} where the module at `path` names a config: `config`,
  `*_config` or `.config`."""
  tree = ast.parse(open(path).read())
  uses = set()

  def visit(node, function):
    for child in ast.iter_child_nodes(node):
      name = (child.id if isinstance(child, ast.Name) else child.arg
              if isinstance(child, ast.arg) else getattr(child, 'attr', None))
      if isinstance(name, str) and (name == 'config' or name.endswith('_config')):
        uses.add((function, child.lineno))
      visit(child, child.name if isinstance(child, ast.FunctionDef) else function)
  visit(tree, '<module>')
  return uses


def test_the_raw_config_stops_at_the_doors():
  """Below a run's entry, code reads settings/run_settings.py's objects, not the config."""
  strays = []
  for module, path in sorted(_modules().items()):
    if any(module == r or module.startswith(r + '.') for r in CONFIG_READERS):
      continue
    doors = CONFIG_DOORS.get(module, ())
    strays += [f'ali_jax/{module.replace(".", "/")}:{line} in {function}'
               for function, line in sorted(_config_uses(path)) if function not in doors]
  assert not strays, ('These read the raw config below the run\'s entry; read what they '
                      'need into settings/run_settings.py and pass that: ' + ', '.join(strays))


def test_the_tests_are_laid_out_like_the_code():
  """tests/<package>/ for each package's tests; beside them only the experiments' and the
  fixtures' folders."""
  folders = {entry for entry in os.listdir(os.path.join(REPO, 'tests'))
             if os.path.isdir(os.path.join(REPO, 'tests', entry)) and not entry.startswith('__')}
  assert folders - {'experiments', 'fixtures'} <= set(FLOOR), folders


def test_the_architecture_page_draws_the_imports_as_they_are():
  expected = drawing(import_graph())
  assert expected in open(DOC).read(), (
      'docs/architecture.md does not show the imports as they are; put this block in it:\n'
      + expected)
