"""The migration: seeds the database once, then exits 0 (a `completed`
dependency of the API)."""

from resp import Redis

r = Redis()
if r.call("GET", "schema:version") != "1":
    r.call("DEL", "todos")
    r.call("RPUSH", "todos", "write the services file", "run sandport up")
    r.call("SET", "schema:version", "1")
print("migrated to schema 1", flush=True)
