"""Engine settings that make any ``jepa train`` a few-second test run (one thread, three steps, no workers)."""

TINY_ENGINE = [
    "train.steps=3",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.progress=false",
    "train.threads=1",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.warmup_steps=1",
]
