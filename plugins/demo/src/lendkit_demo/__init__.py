"""lendkit-demo: the demo tenant behind ``make demo``.

``lendkit-demo`` (:mod:`lendkit_demo.launcher`) creates the demo tenant's
folder and settings, seeds it once (:mod:`~lendkit_demo.plugin`'s
``seed_demo``, then a simulated loan book, :mod:`~lendkit_demo.book`, and the
borrowers who can sign in, :mod:`~lendkit_demo.signins`) and serves it with
the worker, the payment gateway stand-in and the e-sign stand-in in one
process. First-party: it uses kernel internals where no public API exists
yet (see its README).
"""
