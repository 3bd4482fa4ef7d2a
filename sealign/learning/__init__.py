"""Learning: the learner, its losses, optimiser, reference model and checkpoints, and their settings."""
