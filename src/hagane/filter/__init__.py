"""filter: score documents once (language ID, Japanese heuristics), then select cheaply."""
