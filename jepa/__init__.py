"""JEPA world-model framework. ``jepa.load_encoder(FILE)`` rebuilds an encoder written by ``jepa export``."""


def __getattr__(name: str):
    if name == "load_encoder":  # imported on first use, so that `import jepa` (and the CLI) stays light
        from jepa.models.export import load_encoder

        return load_encoder
    raise AttributeError(f"module 'jepa' has no attribute {name!r}")
