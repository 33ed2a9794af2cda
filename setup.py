"""What pyproject.toml cannot say: the top-level ``configs/`` folder (the presets and each command's YAML) is
installed as the package ``jepa.configs``, so that no user folder named ``configs`` can shadow it."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["jepa*", "evals*", "envs*"]), "jepa.configs", "jepa.configs.experiment"],
    package_dir={"jepa.configs": "configs"},
)
