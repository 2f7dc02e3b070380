"""Evaluation: PoseTrack mAP and tracking metrics (poseval's algorithms), prediction files."""

from famipose_jax.evaluation.posetrack_frames import (GroundTruth, read_folder_pair,
                                                      read_ground_truth)
from famipose_jax.evaluation.posetrack_map import (PoseTrackResult, evaluate_folders,
                                                   evaluate_videos)
from famipose_jax.evaluation.posetrack_tracking import (PoseTrackingResult, carries_track_ids,
                                                        evaluate_tracking,
                                                        evaluate_tracking_folders)
from famipose_jax.evaluation.prediction_writer import (PosePrediction, assemble_predictions,
                                                       write_prediction_folder)
from famipose_jax.evaluation.tables import format_table

__all__ = [
    'GroundTruth', 'PosePrediction', 'PoseTrackResult', 'PoseTrackingResult',
    'assemble_predictions', 'carries_track_ids', 'evaluate_folders', 'evaluate_tracking',
    'evaluate_tracking_folders', 'evaluate_videos', 'format_table', 'read_folder_pair',
    'read_ground_truth', 'write_prediction_folder',
]
