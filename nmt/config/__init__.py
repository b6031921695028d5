"""Recipes: the schema, its checks and their YAML."""
