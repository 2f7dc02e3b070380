"""Training: the loop, the step, the train state, the optimiser and the logged metrics."""
