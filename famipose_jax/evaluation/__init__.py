"""Evaluation: PoseTrack mAP (poseval's algorithm) and writing prediction files."""

from famipose_jax.evaluation.posetrack_frames import read_folder_pair
from famipose_jax.evaluation.posetrack_map import (PoseTrackResult, evaluate_folders,
                                                   evaluate_videos)
from famipose_jax.evaluation.prediction_writer import (PosePrediction, assemble_predictions,
                                                       write_prediction_folder)
from famipose_jax.evaluation.tables import format_table

__all__ = [
    'PosePrediction', 'PoseTrackResult', 'assemble_predictions', 'evaluate_folders',
    'evaluate_videos', 'format_table', 'read_folder_pair', 'write_prediction_folder',
]
