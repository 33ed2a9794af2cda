"""The control job: train an action-conditioned world model on collected trajectories, then plan with it."""
