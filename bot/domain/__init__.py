"""The pure domain: no I/O, no transport types. Everything here is deterministic and testable."""
