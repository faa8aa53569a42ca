"""API schemas: what goes over the wire, mapped from domain values by explicit functions."""
