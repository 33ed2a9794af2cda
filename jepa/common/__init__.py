"""The ground floor: configuration errors, devices and precision, torch.distributed helpers, optimiser groups and
step-indexed schedules. Every other package may import it; it imports nothing of the project."""
