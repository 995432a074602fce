"""lendkit-identity-sandbox: a stand-in identity verifier. It checks nothing real.

It answers the ``verify_identity`` hook for the demo and for tests, so the
real-name flow can be shown end to end without an identity vendor. Every
verdict it gives carries ``sandbox=True`` and the provider name
``identity-sandbox``, and the kernel labels it "not a real identity check"
wherever it is shown. Never enable it on a tenant that lends real money.
"""
