"""liveroom server package."""
