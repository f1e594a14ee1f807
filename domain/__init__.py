"""Pure business rules of liveroom: no I/O, no asyncio, no frameworks. Frozen dataclasses in, decisions out."""
