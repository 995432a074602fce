"""lendkit-esign-sandbox: an e-signature vendor for the demo and tests, NOT legally valid.

``server`` is a small HTTP server on loopback that behaves like an e-sign
vendor (signed merchant requests, asynchronous signed callbacks, duplicate
callbacks on purpose, retries); it "signs" a PDF by appending a visible
sandbox stamp page as an incremental update, so the signed file begins with
the exact bytes it was given. ``plugin`` implements the ``sign_contract``
and ``parse_signature_callback`` hooks against it. No certificate, no CA, no
legal effect: every result carries ``sandbox=True``.
"""
