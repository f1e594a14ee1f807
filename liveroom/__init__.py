"""The composition root: the one place that wires server, realtime and web into a process (app factory, CLI, demo)."""
