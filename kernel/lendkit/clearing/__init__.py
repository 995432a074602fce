"""Funds clearing: money arithmetic, the chart of accounts, the double-entry journal.

``money`` holds the one rounding rule and the co-lending split, ``accounts``
the chart of accounts as data, ``ledger`` the append-only journal and its
balances.
"""
