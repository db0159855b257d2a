"""What the web tier (app) and the workers (jobs) share; it imports neither (ARCHITECTURE.md)."""
