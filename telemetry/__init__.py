"""What liveroom tells its operators about itself: Prometheus metrics (telemetry/metrics.py).

Standard library and `prometheus_client` only; store, server, realtime, web and liveroom may import it, it imports
nothing of ours (tests/test_architecture.py)."""
