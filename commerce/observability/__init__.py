"""What operators see of the service: Prometheus metrics, JSON logs with request ids, tracing."""
