"""Persistence: schema, engines, migrations runner."""
