"""Placeholder package: see DESIGN.md; built by a later issue."""
