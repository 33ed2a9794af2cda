"""``jepa bench`` and ``jepa bench-video``: how fast training steps and the video loader run, beside the official
step."""
