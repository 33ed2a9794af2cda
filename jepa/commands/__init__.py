"""One module per ``jepa`` command: each takes its composed, checked config and does the work."""
