"""The core layer: pure functions and small value objects, with no I/O and no event loop.

Signing, JSON with ``Decimal``, the request envelope, reading answers into JSON or typed
errors, retry policy and the server's clock. Every layer above may use it;
it uses only the typed errors of ``_errors.py``.
"""
