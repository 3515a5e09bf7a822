"""The experiment scripts run end to end on the tiny config."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mixture_seeds_writes_a_table(tmp_path):
  output = tmp_path / 'table.md'
  subprocess.run(
      [sys.executable, 'experiments/mixture_seeds.py', '--config=configs/mixture_tiny.py',
       '--seeds=0,1', f'--workdir={tmp_path / "runs"}', f'--output={output}'],
      cwd=REPO, check=True, capture_output=True, timeout=240)
  table = output.read_text()
  assert '| 0 |' in table and '| 1 |' in table and '**median**' in table
  assert (tmp_path / 'runs' / 'seed_1' / 'eval.json').exists()
