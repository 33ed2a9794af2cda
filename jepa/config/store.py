"""The typed schemas and the options of every config group, registered with Hydra's ConfigStore.

Each command's YAML file (``configs/<command>.yaml``, installed as ``jepa.configs``) names its schema first in its
defaults list, then picks a default option per group; ``group=option`` on the command line, or in an experiment file,
swaps one in. Options are typed nodes, so a key that an option does not declare is an error naming it.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from jepa.config import command_schema as c
from jepa.config import schema as s

# the options of each group; tests/test_config.py pins them to the registries they name (jepa.models.MODEL_SIZES,
# jepa.losses.REGULARIZERS, jepa.planning.PLANNERS, envs.ENV_IDS), which this layer does not import
MODELS = ("vit_tiny", "vit_small", "vit_base", "vit_large", "vit_huge", "vit_giant")
REGULARIZERS = ("none", "vcr", "sigreg")
ENVS = {
    "two_rooms": "jepa/TwoRooms-v0",
    "pendulum": "jepa/PixelPendulum-v0",
    "reacher": "jepa/PixelReacher-v0",
    "point_maze": "jepa/PixelPointMaze-v0",
    "push_t": "jepa/PixelPushT-v0",
}
AGENTS = ("mpc", "policy", "expert", "random")
PLANNERS = ("cem", "mppi")

SCHEMAS = {
    "train": s.Config,
    "eval": c.EvalRunConfig,
    "collect": c.CollectConfig,
    "rollout": c.RolloutConfig,
    "compare": c.CompareConfig,
    "export": c.ExportConfig,
    "embed": c.EmbedConfig,
}


def register_configs() -> None:
    """Register every schema (``<command>_schema``) and group option; idempotent (called by each compose)."""
    store = ConfigStore.instance()
    for command, schema in SCHEMAS.items():
        store.store(name=f"{command}_schema", node=schema)
    for name, schema in s.DATA_OPTIONS.items():
        store.store(group="data", name=name, node=schema(name=name))
    for name in MODELS:
        store.store(group="model", name=name, node=s.ModelConfig(name=name))
    for kind, schema in s.MASK_OPTIONS.items():
        store.store(group="mask", name=kind, node=schema())
    for name in REGULARIZERS:
        store.store(group="regularizer", name=name, node=s.RegularizerConfig(name=name))
    for name, env_id in ENVS.items():
        store.store(group="env", name=name, node=c.EnvConfig(id=env_id))
    for name in AGENTS:
        store.store(group="agent", name=name, node=c.AgentConfig(name=name))
    for name in PLANNERS:
        store.store(group="planner", name=name, node=c.PlannerConfig(name=name))
