"""Methods as recipes the engine trains: each builds its method, data and collate function from a config, rebuilds
it from a checkpoint and evaluates it. Importing this package imports each of its modules, and the recipe modules
among them register their methods: a new recipe file is found without being listed."""

import importlib
import pkgutil

from jepa.recipes.registry import RECIPES, Recipe, get_recipe, load_run, make_trainer, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["RECIPES", "Recipe", "get_recipe", "load_run", "make_trainer", "register"]
