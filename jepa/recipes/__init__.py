"""Methods as recipes the engine trains: each builds its method, data and collate function from a config, rebuilds
it from a checkpoint and evaluates it. Importing this package registers every recipe."""

from jepa.recipes import lejepa, masked_jepa, policy, seq_jepa, world_model  # noqa: F401  (registers them)
from jepa.recipes.policy import load_policy
from jepa.recipes.registry import RECIPES, Recipe, get_recipe, load_run, make_trainer

__all__ = ["RECIPES", "Recipe", "get_recipe", "load_policy", "load_run", "make_trainer"]
