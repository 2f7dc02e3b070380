"""The benchmark suite (bench/suite.py) runs end to end on the tiny network, on this machine.

The same script is what runs on a GPU machine; here it checks that every benchmark produces
its JSON with the fields BENCHMARKS.md quotes, PyTorch side included (the plain-PyTorch DCN
where torchvision is not installed).
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_suite_writes_every_result(tmp_path):
  pytest.importorskip('torch')
  out = tmp_path / 'suite'
  subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'suite.py'), '--out', str(out),
                  '--small', '--rounds', '1'], check=True, cwd=ROOT, timeout=900,
                 capture_output=True)
  names = {'train_step_float32', 'forward_float32', 'hrnet_float32', 'dcn'}
  assert {p.stem for p in out.glob('*.json')} == names | {'suite'}
  summary = json.loads((out / 'suite.json').read_text())
  assert set(summary) == names
  train = json.loads((out / 'train_step_float32.json').read_text())
  assert train['batch'] == 2 and train['threads'] == 2 and train['small'] is True
  assert train['jax_s_per_step'] > 0 and train['torch_s_per_step'] > 0
  assert train['ratio'] == pytest.approx(train['torch_s_per_step'] / train['jax_s_per_step'])
  assert train['torch_dcn'] in ('torchvision', 'reference')
  assert train['jax_compile']['model_flops'] > 0 and train['jax_compile']['compile_s'] > 0
  forward = json.loads((out / 'forward_float32.json').read_text())
  assert forward['part'] == 'network' and forward['jax_s_per_forward'] > 0
  assert json.loads((out / 'hrnet_float32.json').read_text())['num_supporting'] == 0
  dcn = json.loads((out / 'dcn.json').read_text())
  assert dcn['ratio_forward'] > 0 and dcn['ratio_forward_backward'] > 0
