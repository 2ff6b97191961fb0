"""Stand-ins for the outside world: aiohttp servers on loopback speaking the real wire formats."""
