"""A TCP proxy that adds latency: network distance where the kernel has no netem.

Between the Django server and what it waits on (Postgres, the upstream API), each direction of
each connection is delayed by a fixed time, optionally with jitter, the way toxiproxy's latency
toxic does it (latencyproxy.relay). Counters are served on a separate control address as JSON
(``GET /stats``) and Prometheus text (``GET /metrics``), see latencyproxy.stats.

Run: ``python -m latencyproxy --listen H:P --upstream H:P --delay-ms D`` (latencyproxy.__main__).
"""
