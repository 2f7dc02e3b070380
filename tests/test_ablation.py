"""The ablation study: its grid, statistics, report, and a --quick study run twice (resume)."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from configs import synthetic_ablation
from famipose_jax.config import schema as config_schema
from famipose_jax.ablation import grid, paired_stats, report, studies
from famipose_jax.ablation.__main__ import main as ablation_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMI = studies.study('famipose')


def test_every_variant_changes_exactly_its_overrides(tmp_path):
  base = synthetic_ablation.get_config()
  names = [v.name for v in FAMI.variants]
  runs = grid.plan_runs(FAMI, base, str(tmp_path), [0, 1], names)
  # Per seed: stage 1, then every variant but the single frame (stage 1 is that variant).
  assert [(r.seed, r.variant) for r in runs] == [
      (s, v) for s in (0, 1) for v in ['stage1'] + [n for n in names if n != 'single_frame']]
  by = {(r.seed, r.variant): r for r in runs}
  reference = by[(1, FAMI.reference)].config
  assert reference.init_from == str(tmp_path / 'runs' / 'seed_1' / 'stage1')
  assert reference.seed == 1 and reference.train.pretrain_epochs == 0
  stage1 = by[(1, 'stage1')].config
  assert (stage1.model.family, stage1.num_epochs, stage1.seed) == ('single_frame', 8, 1)
  for run in runs:
    config_schema.validate_config(run.config)
    if run.variant == 'stage1':
      continue
    variant = FAMI.by_name[run.variant]
    assert run.overrides == variant.json_overrides()
    before = config_schema.flatten(by[(run.seed, FAMI.reference)].config.to_dict())
    after = config_schema.flatten(run.config.to_dict())
    assert {k: v for k, v in after.items() if before[k] != v} == variant.overrides, run.variant


def test_unknown_variant_override_and_name_are_refused(tmp_path, capsys):
  with pytest.raises(KeyError, match='model.bogus'):
    grid._with_overrides(synthetic_ablation.get_config(), {'model.bogus': 1})
  with pytest.raises(ValueError, match="'nope'"):
    grid.plan_runs(FAMI, synthetic_ablation.get_config(), str(tmp_path), [0], ['nope'])
  assert ablation_main(['--out', str(tmp_path), '--variants', 'global_only,nope']) == 2
  assert capsys.readouterr().err.startswith("error: --variants 'global_only,nope': unknown "
                                            "['nope']")


def test_a_user_error_inside_a_run_ends_the_study_with_one_line(tmp_path, capsys):
  # Stage 1's workdir holds a config.json this program did not write: train.py refuses it with
  # one line and exit status 2, and so does the study (no traceback).
  out = tmp_path / 'study'
  stage1 = out / 'runs' / 'seed_0' / 'stage1'
  stage1.mkdir(parents=True)
  (stage1 / 'config.json').write_text('{"written by": "another program"}')
  code = ablation_main(['--out', str(out), '--quick', '--variants', 'fami_no_mi',
                        '--data-root', str(tmp_path / 'data')])
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 2
  assert err == [f"error: {stage1 / 'config.json'} is unreadable (KeyError: 'config'); it is "
                 'not a config record of this program. Choose another --workdir.']


def test_paired_difference_interval():
  # d = (2, 3, 4): mean 3, sd 1, t(0.975, 2) = 4.3027 -> 3 +- 2.4841.
  diff = paired_stats.paired_difference([3.0, 4.0, 5.0], [1.0, 1.0, 1.0])
  assert diff['mean'] == pytest.approx(3.0) and diff['sd'] == pytest.approx(1.0)
  assert diff['low'] == pytest.approx(3 - 4.302652729911275 / np.sqrt(3))
  assert diff['high'] == pytest.approx(3 + 4.302652729911275 / np.sqrt(3))
  assert diff['clear'] is True
  # Same mean difference, seeds disagreeing: the interval holds 0.
  wide = paired_stats.paired_difference([10.0, 1.0, 4.0], [1.0, 1.0, 4.0])
  assert wide['mean'] == pytest.approx(3.0) and wide['clear'] is False
  one = paired_stats.paired_difference([2.0], [1.5])
  assert one == {'mean': 0.5, 'sd': 0.0, 'low': None, 'high': None, 'n': 1, 'clear': None}
  assert paired_stats.spread([1.0, 2.0, 6.0]) == {
      'mean': 3.0, 'sd': pytest.approx(np.std([1, 2, 6], ddof=1)), 'min': 1.0, 'max': 6.0,
      'n': 3}


def _record(seed, run, value, degraded):
  row = {'mAP': value, 'degraded_mAP': degraded, 'clean_mAP': value + 1.0,
         'columns': {**{g: value for g in report.JOINT_GROUPS}, 'Mean': value}}
  return {'seed': seed, 'run': run, 'rows': {'final': row}}


def test_markdown_table():
  records = [_record(s, 'stage1', 50.0 + s, 30.0 + s) for s in range(3)]
  records += [_record(s, FAMI.reference, 55.0 + s, 40.0 + 2 * s) for s in range(3)]
  summary = report.summarise(FAMI, records, [grid.SINGLE_FRAME, 'global_only', FAMI.reference])
  assert [e['variant'] for e in summary] == [grid.SINGLE_FRAME, FAMI.reference]
  text = report.markdown(FAMI, summary, 600.0, [0, 1, 2])
  assert text.startswith('Seeds: 0, 1, 2. PoseTrack mAP on the validation key frames: mean +- '
                         'sample sd over seeds; "vs reference": the mean paired difference from '
                         'FAMI-Pose without MI with its 95% t interval;')
  assert ('| single-frame HRNet (stage 1) | 51.0 +- 1.0 | -5.0 [-5.0, -5.0] **clear** | '
          '31.0 +- 1.0 | -11.0 [-13.5, -8.5] **clear** | 52.0 +- 1.0 | -5.0 [-5.0, -5.0] '
          '**clear** |') in text
  assert ('| FAMI-Pose without MI (reference) | 56.0 +- 1.0 | (reference) | 42.0 +- 2.0 | '
          '(reference) | 57.0 +- 1.0 | (reference) |') in text
  assert ('| Variant | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle |\n|---|---|---|---|'
          '---|---|---|---|\n| single-frame HRNet (stage 1) | 51.0 | 51.0 | 51.0 | 51.0 | 51.0 | '
          '51.0 | 51.0 |') in text
  assert text.endswith('summed over their records: 10.0 min.\n')


def _study(out, data, *extra):
  return subprocess.run([sys.executable, '-m', 'famipose_jax.ablation', '--out', out,
                         '--quick', '--data-root', data, *extra],
                        cwd=REPO, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
def test_quick_study_writes_its_files_and_resumes(tmp_path):
  out, data = str(tmp_path / 'study'), str(tmp_path / 'data')
  first = _study(out, data)
  assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
  assert '[ablation] run 3 of 3: seed 0, fami_no_mi' in first.stdout
  assert sorted(os.listdir(out)) == ['ablation.png', 'jax_cache', 'results.json',
                                     'results.md', 'runs']
  with open(os.path.join(out, 'results.json')) as f:
    results = json.load(f)
  assert results['study'] == 'famipose'
  assert results['complete'] is True and results['seeds'] == [0]
  assert results['command'].startswith('python -m famipose_jax.ablation --out ')
  assert [v['variant'] for v in results['variants']] == list(FAMI.quick)
  assert [(r['seed'], r['run']) for r in results['runs']] == [
      (0, 'fami_no_mi'), (0, 'global_only'), (0, 'stage1')]
  for run in results['runs']:
    rows = run['rows']
    assert sorted(rows) == (['final'] if run['run'] == 'stage1' else ['backbone', 'final'])
    # The tiny val video: 6 frames, 2 of them degraded (every frame has people).
    assert rows['final']['frames'] == {'degraded': 2, 'clean': 4}
    assert 0.0 <= rows['final']['degraded_mAP'] <= 100.0
  overrides = {v['variant']: v['overrides'] for v in results['variants']}
  assert overrides['global_only'] == {'model.famipose.local_calibration': False}
  for entry in results['variants']:
    assert entry['mAP']['n'] == 1
    if entry['variant'] != FAMI.reference:
      assert entry['mAP_vs_reference']['clear'] is None    # one seed: no interval
  with open(os.path.join(out, 'results.md')) as f:
    table = f.read()
  assert table.startswith('Seeds: 0.')      # the default study's table has no title
  for variant in FAMI.quick:
    assert f'| {FAMI.by_name[variant].label} |' in table
  picture = cv2.imread(os.path.join(out, 'ablation.png'))
  assert picture is not None and picture.shape[1] > 1000

  # A run whose record is gone is resumed from its checkpoint (not retrained); the others are
  # skipped; the numbers come back the same.
  os.remove(os.path.join(out, 'runs', 'seed_0', 'global_only', 'ablation_record.json'))
  second = _study(out, data)
  assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
  assert '[ablation] 2 of 3 runs already finished' in second.stdout
  assert 'run 3 of 3: seed 0, global_only' in second.stdout
  assert 'trained steps' not in second.stdout
  with open(os.path.join(out, 'results.json')) as f:
    again = json.load(f)
  assert [v['mAP'] for v in again['variants']] == [v['mAP'] for v in results['variants']]


def test_clip_sheet_shows_degraded_frames_between_neighbours(tmp_path):
  from data_pipeline.synthetic import generate, variant
  from famipose_jax.ablation import clip_sheet
  settings = dict(variant('ablation_tiny').to_dict(), frames=12)
  root = generate(str(tmp_path / 'data'), workers=1, verbose=False, **settings).root
  sheet = clip_sheet.clip_sheet(root)
  assert sheet.shape[1] == 3 * 160 and sheet.shape[0] in (90, 180, 270)
  out = str(tmp_path / 'clips.jpg')
  assert clip_sheet.main(['--data', root, '--out', out]) == 0
  assert cv2.imread(out).shape == sheet.shape
  assert clip_sheet.main(['--data', root, '--out', str(tmp_path / 'clips.gif')]) == 2
  with pytest.raises(ValueError, match='no degraded_frames'):
    clip_sheet.clip_sheet(generate(str(tmp_path / 'clean'), workers=1, verbose=False,
                                   **variant('tiny').to_dict()).root)


def test_a_diverged_run_is_a_result_and_fails_its_seed(tmp_path, monkeypatch):
  from famipose_jax.train import loop as trainer
  from famipose_jax.ablation import runner
  calls = []

  def diverge(config, workdir):
    calls.append(workdir)
    raise trainer.NonFiniteLossError(f'loss became nan at step 3 of {workdir}')

  monkeypatch.setattr(trainer, 'train_and_evaluate', diverge)
  out = str(tmp_path / 'study')
  runs = grid.plan_runs(FAMI, synthetic_ablation.get_config('quick'), out, [0],
                        list(FAMI.quick))
  logged = []
  outcome = runner.run_all(runs, out, log=logged.append)
  assert calls == [runs[0].workdir]          # stage 1 only: its variants are not trained
  assert [(r['run'], r['failed']) for r in outcome.records] == [
      ('stage1', f'loss became nan at step 3 of {runs[0].workdir}'),
      ('global_only', 'stage 1 of seed 0 failed'), ('fami_no_mi', 'stage 1 of seed 0 failed')]
  document = report.write(out, FAMI, outcome.records, list(FAMI.quick), [0], 'cmd',
                          complete=True, log=logged.append)
  assert [(v['variant'], v['seeds'], v['failed_seeds']) for v in document['variants']] == [
      (name, [], [0]) for name in FAMI.quick]
  with open(os.path.join(out, 'results.md')) as f:
    assert ('| FAMI-Pose without MI (reference) (failed: seed 0) | - | - | - | - | - | - |'
            in f.read())
  assert logged[-1].startswith('[ablation] 3 run(s) failed: runs/seed_0/stage1: loss became nan')
  # Failed runs are finished: a rerun skips them.
  calls.clear()
  again = runner.run_all(runs, out, log=logged.append)
  assert calls == [] and len(again.records) == 3
