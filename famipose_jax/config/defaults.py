"""The published FAMI-Pose configuration (HRNet-W48, 384x288, PoseTrack17): every default.

Every number here is the published value (the code at github.com/Pose-Group/FAMI-Pose);
switches that default to the code's behaviour offer the paper's variant. It is also the layout
config_schema checks every config against: the experiment configs in configs/ start from it and
change values, never fields.

config.model.family names the model family (models/registry.py); config.model.<family> holds
that family's own fields (its defaults are the family's: models/<family>/family.py), and a
config holds the section of its own family only. `published_config(family)` starts from another
family; `with_family(config, family)` switches a config, giving the new family's section its
defaults.
"""

import copy

import ml_collections

from data_pipeline import config as data_schema
from data_pipeline import joints
from famipose_jax.config import backbone_presets
from famipose_jax.models import registry


def published_config(family: str = 'famipose') -> ml_collections.ConfigDict:
  """A new copy of the published configuration, of model family `family` (the published model
  is FAMI-Pose); experiment configs start from it."""
  config = ml_collections.ConfigDict()
  config.seed = 19970808
  config.num_epochs = 21
  config.batch_size = 48                 # global batch of clips, split over all devices
  config.eval_batch_size = 64
  config.init_from = ''                  # converted HRNet (or FAMI-Pose) checkpoint directory

  # Shared between model, targets and decoding: change one, all follow (config_schema refuses a
  # config whose model and data copies differ).
  image_size = ml_collections.FieldReference((288, 384))    # (W, H)
  heatmap_size = ml_collections.FieldReference((72, 96))    # (W, H)
  num_joints = ml_collections.FieldReference(joints.NUM_JOINTS)
  simcc_split_ratio = ml_collections.FieldReference(2.0)

  # ---- model ----
  m = config.model = ml_collections.ConfigDict()
  m.family = family                      # models/registry.py: 'famipose' | 'single_frame' | ...
  m.head = 'heatmap'                     # 'heatmap' | 'simcc'
  m.num_joints = num_joints
  m.image_size = image_size
  m.heatmap_size = heatmap_size
  m.backbone = backbone_presets.hrnet(48)
  m.freeze_backbone = True               # only the additions to the backbone are trained
  m.backbone_bn_batch_stats = True       # published quirk: frozen backbone BN still in train mode
  m.simcc_split_ratio = simcc_split_ratio
  m.conv_init_std = 0.001                # every Conv2d ~ N(0, 0.001), biases 0
  m.dtype = 'float32'                    # compute dtype ('bfloat16' on accelerators)
  _add_family_section(m, family)

  # ---- data: the data pipeline's own section (data_pipeline/config.py) ----
  config.data = data_schema.data_defaults(image_size, heatmap_size, num_joints, simcc_split_ratio)

  # ---- losses ----
  l = config.loss = ml_collections.ConfigDict()   # the head's (a family's own: its section)
  l.heatmap_weight = 1.0
  l.use_target_weight = True             # JointMSELoss / KLDiscretLoss weight joints
  l.simcc_beta = 1.0                     # SimCC/HRNet: log_softmax(pred * 1), no temperature
  l.simcc_label_softmax = False          # SimCC/HRNet: Gaussian labels used as given
  l.simcc_batch_reduction = 'mean'       # 'mean' (SimCC code) | 'sum' (mmpose)

  # ---- optimiser ----
  o = config.optim = ml_collections.ConfigDict()
  o.learning_rate = 1e-3                 # Adam, no weight decay
  o.b1 = 0.9
  o.b2 = 0.999
  o.eps = 1e-8
  o.weight_decay = 0.0
  o.lr_decay_epochs = (8, 12, 16)        # the config's MILESTONES [10, 15] are never read
  o.lr_decay_factor = 0.1

  # ---- training loop (train.py; not published numbers: bookkeeping) ----
  t = config.train = ml_collections.ConfigDict()
  t.log_every_steps = 100                # metrics: TensorBoard + workdir/metrics.jsonl
  t.checkpoint_every_steps = 1000        # also saved after every epoch and on SIGTERM/SIGINT
  t.keep_checkpoints = 3
  t.async_checkpointing = True
  t.on_corrupt_checkpoint = 'error'      # 'fall_back': resume from the newest intact checkpoint
  t.eval_every_epochs = 0                # 0: evaluate once, after the last epoch
  t.pretrain_epochs = 0                  # > 0 (and no init_from): train the single-frame
  t.pretrain_lr_decay_epochs = ()        #   backbone first, in workdir/pretrain (the demo)
  t.num_vis_samples = 8                  # crops drawn in workdir/predictions/*.png
  t.progress_bar = True                  # drawn only when stderr is a terminal
  t.distributed = False                  # call jax.distributed.initialize() first
  t.coordinator_address = ''             # '' = auto-detect (SLURM, Open MPI, TPU, ...)
  t.num_processes = 0                    # 0 = auto-detect
  t.process_id = -1                      # -1 = auto-detect
  t.heartbeat_timeout_seconds = 100      # a process silent this long stops the others (JAX's)

  # ---- evaluation ----
  e = config.eval = ml_collections.ConfigDict()
  e.dark = False
  e.dark_kernel_size = 11                # DARK's Gaussian blur (OpenCV sigma for size 11 = 2)
  e.quarter_offset = 0.25                # sub-pixel step toward the larger neighbour (no DARK)
  e.flip_test = False
  e.flip_shift_heatmap = True            # HRNet SHIFT_HEATMAP: flipped maps move 1 px right
  e.joint_score = 'times_box_score'      # 'times_box_score' (published) | 'raw'
  e.missing_frame_score = -100.0         # dummy point for frames with no prediction
  e.pckh_threshold = 0.5
  e.head_size_factor = 0.6
  e.prediction_layout = 'posetrack17'    # layout of written prediction files (published: annolist)
  return config


def _add_family_section(model: ml_collections.ConfigDict, family: str) -> None:
  section = registry.get(family).section
  if section is not None:
    model[family] = section()


def with_family(config: ml_collections.ConfigDict, family: str) -> ml_collections.ConfigDict:
  """A copy of `config` (an experiment config or its model section) with model.family =
  `family`: the old family's section removed, the new family's added with its defaults; every
  other field as it was."""
  registry.get(family)
  switched = copy.deepcopy(config)   # shared sizes stay shared (FieldReferences)
  model = switched.model if 'model' in switched else switched
  old = model.family
  if old != family:
    if old in model:
      del model[old]
    model.family = family
    _add_family_section(model, family)
  return switched


def adopt_family(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, str]:
  """`config` holding the section of its own model.family.

  Where an override changed model.family (`--config.model.family=single_frame` on a FAMI-Pose
  config file), the sections of other families are dropped and the new family's is added with
  its defaults. Returns (config, a note of what was replaced, '' when nothing was).
  """
  family = registry.get(config.model.family)
  stale = [name for name in registry.names() if name != family.name and name in config.model]
  missing = family.section is not None and family.name not in config.model
  if not stale and not missing:
    return config, ''
  adopted = copy.deepcopy(config)
  for name in stale:
    del adopted.model[name]
  if missing:
    _add_family_section(adopted.model, family.name)
  dropped = ', '.join(f'config.model.{name}' for name in stale) or 'nothing'
  return adopted, (f'model.family={family.name!r}: dropped {dropped}'
                   + (f', added config.model.{family.name} at its defaults' if missing else ''))
