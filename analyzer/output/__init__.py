"""Renderings of an Analysis: JSON (the contract), CSV, the terminal report."""
