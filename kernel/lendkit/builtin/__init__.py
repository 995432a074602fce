"""Kernel features registered as default plugins, through the public hooks."""
