"""lendkit-channel-sandbox: a payment channel and the fake gateway it talks to.

``gateway`` is a small HTTP server that behaves like a real payment gateway
(signed requests, asynchronous signed callbacks, failure codes, duplicate
callbacks, a daily statement file); ``channel`` is the lendkit
:class:`~lendkit.types.PaymentChannel` that talks to it over HTTP.
"""
