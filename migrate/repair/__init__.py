"""Repairing dangling taxonomy: recover evidence, plan, apply with a journal, undo."""
