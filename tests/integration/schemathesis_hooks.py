"""Loaded by Schemathesis in test_openapi.py (SCHEMATHESIS_HOOKS): the sync
operations take application/msgpack bodies, sent as the raw bytes it
generates for them (random bytes, which the syncer must refuse cleanly)."""
import schemathesis

schemathesis.serializer.alias("application/msgpack", "application/octet-stream")
