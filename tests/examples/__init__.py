"""The examples in ``examples/``, each run end to end against a FakeCalypso over sockets."""
