"""Benchmarks for calypso_async, run from a clone: ``python -m benchmarks.poll`` and friends.

* :mod:`benchmarks.poll`: concurrent invoice polling, the SDK against a hand-written raw
  aiohttp client, interleaved round by round on one FakeCalypso in another process.
* :mod:`benchmarks.resolver`: ``InterventionResolver`` throughput in worker mode.
* :mod:`benchmarks.micro`: one call's client-side CPU work, without a network.

See ``benchmarks/README.md`` for how to run them and what each number means.
"""
