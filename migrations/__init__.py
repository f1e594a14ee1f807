"""liveroom migrations package."""
