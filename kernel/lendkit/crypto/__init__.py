"""National cryptography for lendkit: SM4 fields, SM3 blind indexes, keys, SM2.

``sm4`` holds the two interchangeable SM4 backends (OpenSSL through
``cryptography``, the fast path; ``gmssl``, the pure-Python reference),
``gm`` wraps gmssl so that its known flaws cannot reach us, ``fields`` is the
stored format of an encrypted value, ``keys`` the envelope key ring,
``blind`` the blind indexes, and ``orm`` the SQLAlchemy column types.
"""
