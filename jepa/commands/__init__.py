"""The ``jepa`` commands that are not benches (those are in :mod:`jepa.bench`): each takes its composed, checked
config and does the work."""
