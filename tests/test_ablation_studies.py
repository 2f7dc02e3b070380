"""`--study`: which study the ablation runs, and the families study (one row per model family)."""

import json
import math
import os
import subprocess
import sys

import pytest

from configs import synthetic_ablation
from famipose_jax import errors
from famipose_jax.ablation import families, grid, report, runner, studies
from famipose_jax.ablation.__main__ import _parser
from famipose_jax.ablation.__main__ import main as ablation_main
from famipose_jax.config import schema as config_schema
from famipose_jax.models import registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILY_ROWS = ['single_frame', 'fami_no_mi', 'dcpose', 'tdmi']
TDMI = {'model.family': 'tdmi', 'model.tdmi.supporting_offsets': [-1, 1]}


def test_the_studies_and_the_default():
  assert studies.DEFAULT == 'famipose'
  assert _parser().parse_args(['--out', 'x']).study == 'famipose'
  known = studies.names()
  assert known[0] == 'famipose' and known[-1] == 'families'
  # Every registered family with a study of its own, and only those.
  assert set(known[:-1]) == {name for name in registry.names()
                             if registry.get(name).ablation_study() is not None}
  fami = studies.study('famipose')
  assert (fami.name, fami.title) == ('famipose', '')
  assert fami.variants == registry.get('famipose').ablation_study().variants
  chosen = studies.study('families')
  assert (chosen.name, chosen.reference) == ('families', 'single_frame')
  assert [v.name for v in chosen.variants] == FAMILY_ROWS
  assert list(chosen.quick) == FAMILY_ROWS
  with pytest.raises(errors.UsageError, match="--study 'dcpose': no such study"):
    studies.study('dcpose')           # a family without a study of its own


def test_default_study_plans_the_same_runs_as_before(tmp_path):
  out = str(tmp_path)
  runs = grid.plan_runs(studies.study(studies.DEFAULT), synthetic_ablation.get_config(), out,
                        [0, 1, 2], [v.name for v in studies.study(studies.DEFAULT).variants])
  names = ['stage1', 'global_only', 'local_only', 'fami_no_mi', 'dcn_sigmoid_mask',
           'mi_published', 'mi_true_kl', 'mi_critic', 'mi_published_low', 'simcc', 'frames_1',
           'frames_4', 'affine']
  assert [(r.seed, r.variant, os.path.relpath(r.workdir, out)) for r in runs] == [
      (s, n, os.path.join('runs', f'seed_{s}', n)) for s in (0, 1, 2) for n in names]


def test_families_study_plans_one_stage2_run_per_family(tmp_path):
  out = str(tmp_path)
  study = studies.study('families')
  runs = grid.plan_runs(study, synthetic_ablation.get_config(), out, [0, 1], FAMILY_ROWS)
  trained = FAMILY_ROWS[1:]
  # Stage 1 once per seed (it is the single-frame row), then one stage 2 per family.
  assert [(r.seed, r.variant) for r in runs] == [
      (s, v) for s in (0, 1) for v in ['stage1'] + trained]
  by = {(r.seed, r.variant): r for r in runs}
  assert [by[(1, v)].config.model.family for v in ['stage1'] + trained] == [
      'single_frame', 'famipose', 'dcpose', 'tdmi']
  assert [by[(1, v)].overrides for v in trained] == [{}, {'model.family': 'dcpose'}, TDMI]
  for name in trained:
    config = by[(1, name)].config
    assert config.init_from == os.path.join(out, 'runs', 'seed_1', 'stage1')
    assert (config.seed, config.train.pretrain_epochs) == (1, 0)
  # DCPose: a frozen backbone (the only way it trains) and the frames FAMI-Pose reads.
  dcpose = by[(0, 'dcpose')].config
  assert dcpose.model.freeze_backbone is True and 'famipose' not in dcpose.model
  fami = by[(0, 'fami_no_mi')].config
  assert registry.of(dcpose).clip(dcpose).offsets == tuple(fami.data.supporting_offsets)
  # The FAMI-Pose row is FAMI-Pose's own study's reference, run and config: no MI. In that
  # study's folder, its runs and stage 1 are reused.
  fami_study = studies.study('famipose')
  reference = grid.plan_runs(fami_study, synthetic_ablation.get_config(), out, [0, 1],
                             [fami_study.reference])
  assert fami.model.famipose.mi == 'none'
  assert [(r.variant, r.workdir, r.config.to_json()) for r in reference] == [
      (r.variant, r.workdir, r.config.to_json()) for r in runs if r.variant in
      ('stage1', 'fami_no_mi')]


@pytest.mark.parametrize('variant', ['', 'quick'])
def test_every_study_plans_valid_configs(tmp_path, variant):
  base = synthetic_ablation.get_config(variant)
  for name in studies.names():
    study = studies.study(name)
    runs = grid.plan_runs(study, base, str(tmp_path), [0], [v.name for v in study.variants])
    assert len(runs) == len([v for v in study.variants if v.name != 'single_frame']) + 1
    for run in runs:
      config_schema.validate_config(run.config)


def test_a_familys_row_is_its_own_studys_reference():
  rows = {v.name: v for v in families.rows()}
  assert [(v.label, v.group) for v in rows.values()] == [
      ('single-frame HRNet (stage 1)', 'families'), ('FAMI-Pose without MI', 'families'),
      ('DCPose', 'families'), ('TDMI', 'families')]
  for name, row in (('famipose', rows['fami_no_mi']), ('tdmi', rows['tdmi'])):
    own = studies.study(name)
    assert row.overrides == own.by_name[own.reference].overrides
  assert rows['tdmi'].json_overrides() == TDMI


def _record(seed, run, value):
  row = {'mAP': value, 'degraded_mAP': value - 10.0, 'clean_mAP': value + 1.0,
         'columns': {g: value for g in report.JOINT_GROUPS}}
  return {'seed': seed, 'run': run, 'rows': {'final': row}, 'wall_seconds': 60.0}


def test_families_report_compares_each_family_with_the_stage1_backbone(tmp_path):
  study = studies.study('families')
  records = [_record(s, 'stage1', 40.0 + s) for s in range(3)]
  records += [_record(s, 'dcpose', 42.0 + 2 * s) for s in range(3)]
  records += [_record(s, 'fami_no_mi', 43.0 + s) for s in range(3)]
  names = ['single_frame', 'dcpose', 'fami_no_mi']
  document = report.write(str(tmp_path), study, records, names, [0, 1, 2], 'cmd', complete=True,
                          log=lambda m: None)
  assert document['study'] == 'families'
  assert [v['variant'] for v in document['variants']] == names
  # DCPose - stage 1 per seed: 2, 3, 4.
  assert document['variants'][1]['mAP_vs_reference']['mean'] == pytest.approx(3.0)
  assert document['variants'][2]['mAP_vs_reference']['mean'] == pytest.approx(3.0)
  assert document['variants'][2]['mAP_vs_reference']['sd'] == pytest.approx(0.0)
  with open(tmp_path / 'results.md') as f:
    text = f.read()
  assert text.startswith(f'# {families.TITLE}\n\nSeeds: 0, 1, 2. ')
  assert 'paired difference from single-frame HRNet (stage 1) with its 95% t interval' in text
  assert ('| single-frame HRNet (stage 1) | 41.0 +- 1.0 | (reference) | 31.0 +- 1.0 | '
          '(reference) | 42.0 +- 1.0 | (reference) |') in text
  assert '| FAMI-Pose without MI | 44.0 +- 1.0 | +3.0 [+3.0, +3.0] **clear** |' in text


def test_unknown_study_is_one_line_and_status_2(tmp_path, capsys):
  out = tmp_path / 'study'
  assert ablation_main(['--out', str(out), '--study', 'nope']) == 2
  assert capsys.readouterr().err == (
      f"error: --study 'nope': no such study; known: {', '.join(studies.names())}\n")
  assert not out.exists()


def test_variants_are_those_of_the_chosen_study(tmp_path, capsys, monkeypatch):
  out = tmp_path / 'study'
  # A FAMI-Pose variant is not one of the families study's.
  assert ablation_main(['--out', str(out), '--study', 'families', '--variants',
                        'global_only']) == 2
  assert capsys.readouterr().err == (
      "error: --variants 'global_only': unknown ['global_only']; known (--study families): "
      f"{', '.join(FAMILY_ROWS)}\n")
  # A families row: the reference (stage 1) comes with it. Nothing is trained here.
  planned = []

  def plan_only(runs, out, log=print):
    planned.extend(runs)
    return runner.Outcome([], None)

  monkeypatch.setattr(runner, 'run_all', plan_only)
  code = ablation_main(['--out', str(out), '--study', 'families', '--quick', '--variants',
                        'dcpose', '--data-root', str(tmp_path / 'data')])
  assert code == 130                     # no run finished
  assert [(r.seed, r.variant, r.config.model.family) for r in planned] == [
      (0, 'stage1', 'single_frame'), (0, 'dcpose', 'dcpose')]
  with open(out / 'results.json') as f:
    results = json.load(f)
  assert (results['study'], results['complete'], results['variants']) == ('families', False, [])
  assert results['command'].endswith('--study families --quick --variants dcpose --data-root '
                                     + str(tmp_path / 'data'))


@pytest.mark.slow
def test_quick_families_study_writes_one_row_per_family(tmp_path):
  out, data = str(tmp_path / 'study'), str(tmp_path / 'data')
  done = subprocess.run([sys.executable, '-m', 'famipose_jax.ablation', '--study', 'families',
                         '--quick', '--out', out, '--data-root', data],
                        cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  with open(os.path.join(out, 'results.json')) as f:
    results = json.load(f)
  assert (results['study'], results['complete'], results['seeds']) == ('families', True, [0])
  assert [v['variant'] for v in results['variants']] == FAMILY_ROWS
  for entry in results['variants']:
    assert entry['failed_seeds'] == [] and entry['mAP']['n'] == 1
    assert math.isfinite(entry['mAP']['mean']) and 0.0 <= entry['mAP']['mean'] <= 100.0
  # One run per row: stage 1 is the single-frame row.
  assert {r['run']: r['overrides'] for r in results['runs']} == {
      'stage1' if v.name == 'single_frame' else v.name: v.json_overrides()
      for v in studies.study('families').variants}
  with open(os.path.join(out, 'results.md')) as f:
    assert f.read().startswith(f'# {families.TITLE}\n\n')
  with open(os.path.join(out, 'runs', 'seed_0', 'dcpose', 'config.json')) as f:
    assert json.load(f)['config']['model.family'] == 'dcpose'
