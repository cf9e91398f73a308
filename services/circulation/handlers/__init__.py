"""The service layer: each handler loads the state it needs through the adapters, asks the
pure domain, writes the new state, the item changes and the patron's notices through the
outbox, all on the caller's connection. Handlers never commit; the route's unit of work does.
"""
