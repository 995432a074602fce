"""A partner's plugin, as the docs describe one: for the kernel's acceptance tests."""
