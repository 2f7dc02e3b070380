"""The published FAMI-Pose configuration (HRNet-W48, 384x288, PoseTrack17): every default.

Every number here is the published value (the code at github.com/Pose-Group/FAMI-Pose);
switches that default to the code's behaviour offer the paper's variant. It is also the layout
config_schema checks every config against: the experiment configs in configs/ start from it and
change values, never fields.
"""

import ml_collections

from data_pipeline import config as data_schema
from data_pipeline import joints
from famipose_jax.config import backbone_presets


def published_config() -> ml_collections.ConfigDict:
  """A new copy of the published configuration; experiment configs start from it."""
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
  m.temporal = True                      # False: single-frame HRNet baseline, same code
  m.head = 'heatmap'                     # 'heatmap' | 'simcc'
  m.num_joints = num_joints
  m.image_size = image_size
  m.heatmap_size = heatmap_size
  m.backbone = backbone_presets.hrnet(48)
  m.freeze_backbone = True               # only the FAMI-Pose additions are trained
  m.backbone_bn_batch_stats = True       # published quirk: frozen backbone BN still in train mode
  m.global_transform = 'translation'     # 'translation' (code) | 'affine' (paper) | 'none'
  m.warp_align_corners = True            # kornia >= 0.5; False reproduces kornia 0.3-0.4
  m.gtm_channels = 16
  m.gtm_num_downsamples = 5              # 96x72 -> 3x3
  m.gtm_hidden_features = (64, 64)       # Linear 144->64->64->(2 or 6), no activations
  m.local_calibration = True
  m.dcn_kernel_size = 3
  m.dcn_dilation = 3
  m.dcn_offset_groups = 12
  m.dcn_mask_activation = 'none'         # 'none' (code: raw mask) | 'sigmoid' (DCNv2 paper)
  m.support_blocks = 2                   # sup_agg_block: BasicBlocks on the N warped features
  m.combine_blocks = 1                   # combined_feat_layers
  m.fusion_blocks = 3                    # init_feature_agg_block
  m.head_kernel_size = 3                 # agg_final_layer
  m.simcc_split_ratio = simcc_split_ratio
  m.conv_init_std = 0.001                # every Conv2d ~ N(0, 0.001), biases 0
  m.dtype = 'float32'                    # compute dtype ('bfloat16' on accelerators)

  # ---- data: the data pipeline's own section (data_pipeline/config.py) ----
  config.data = data_schema.data_defaults(image_size, heatmap_size, num_joints, simcc_split_ratio)

  # ---- losses ----
  l = config.loss = ml_collections.ConfigDict()
  l.heatmap_weight = 1.0
  l.mi = 'published'                     # 'published' | 'critic' | 'none'
  l.mi_alpha = 0.5
  l.mi_beta = 0.1
  l.mi_temperature = 0.05
  l.mi_faithful = True                   # True: the published arithmetic; False: true KL
  l.use_target_weight = True             # JointMSELoss / KLDiscretLoss weight joints
  l.simcc_beta = 1.0                     # SimCC/HRNet: log_softmax(pred * 1), no temperature
  l.simcc_label_softmax = False          # SimCC/HRNet: Gaussian labels used as given
  l.simcc_batch_reduction = 'mean'       # 'mean' (SimCC code) | 'sum' (mmpose)
  l.mi_critic_hidden = 64                # 'critic': per-pixel score-head width (not published)
  l.mi_critic_weight = 1e-3              # 'critic': network MI objective scale (not published)
  l.mi_critic_term_weights = (1.0, 1.0, 1.0)  # max I(y;Z~|Zt), min I(y;Zs|Z~), min I(y;Zt|Z~)
  l.mi_critic_fit_weight = 1.0           # 'critic': critics' own objective (critic params only)

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
