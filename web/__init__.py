"""liveroom web package."""
