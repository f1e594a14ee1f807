"""liveroom realtime: committed changes to every screen that shows them.

    writer.on_commit ─► relay.Relay ─► bus (InProcessBus │ RedisStreamBus) ─► relay.Follower ─► projections ─► hub

The outbox table is the truth; the bus is the fast path, and the Follower reads from the outbox whatever the bus
repeats, reorders or loses.
"""
