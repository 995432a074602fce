"""Authentication and authorization.

One module, one job:

``permissions``  the role → permission matrix (data)
``guard``        the app-level guard enforcing each route's permission
``passwords``    argon2id hashing and the password policy
``sessions``     server-side sessions; ``cookies`` and ``csrf`` around them
``lockout``      lock-out after failed sign-ins
``totp``         the staff second factor
``otp``          SMS one-time codes; ``notify`` sends them (hook + sandbox)
``signing``      HMAC-SM3 request signing; ``apikeys`` verifies it
``login``        the sign-in flows; ``api_*`` the routes; ``plugin`` the hooks
``staff_cli``    the ``lendkit staff`` commands
``models``       the tables (migration ``k0005``)
"""
