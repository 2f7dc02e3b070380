"""Training objectives: heatmap MSE, SimCC KL, and the two mutual-information estimators."""

from famipose_jax.losses.joint_mse import joint_mse
from famipose_jax.losses.mi_critic import MutualInformationCritic, build_mi_critic
from famipose_jax.losses.mi_critic import club_upper_bound, infonce_lower_bound
from famipose_jax.losses.mi_published import published_kl, published_mi
from famipose_jax.losses.simcc_kl import simcc_kl
