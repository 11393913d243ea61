"""Training: task data (the shipped splits or a user's files) and the one training loop."""
