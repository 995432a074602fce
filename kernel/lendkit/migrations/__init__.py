"""The kernel's Alembic branch: ``env.py``, ``versions/`` and the frozen helpers of ``columns``."""
