"""lendkit-bureau-sandbox: a stand-in credit bureau. Its reports are made up.

It answers the ``credit_report`` and ``propose_credit_limit`` hooks for the
demo and for tests, so credit assessment can be shown end to end without a
bureau. Everything it says follows from the borrower id alone, the same
every time; every report carries ``sandbox=True`` and the provider name
``bureau-sandbox``, and the kernel labels its decisions "not a real credit
report". Never enable it on a tenant that lends real money.
"""
