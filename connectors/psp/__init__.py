"""Payment service provider adapters."""
