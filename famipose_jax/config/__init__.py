"""Configs: the published defaults, the one schema, backbone presets, the config-file loader."""
