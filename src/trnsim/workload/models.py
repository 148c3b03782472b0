"""Find a model by preset name or by path: ``load_model("llama3-70b")``, ``load_model("cfg.json")``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.workload.config import ModelConfig
from trnsim.workload.hf_config import model_from_hf_dict

__all__ = ["describe_params", "list_models", "load_model", "param_counts"]

_PRESETS = Path(__file__).parent / "presets"


def list_models() -> list[str]:
    """Names of the built-in model presets."""
    return sorted(p.stem for p in _PRESETS.glob("*.json"))


def _load_file(path: Path, default_name: str) -> ModelConfig:
    # Keyed on the file's modification time and size too: an edited config.json is read again.
    try:
        stat = path.stat()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    return _load_file_cached(path, default_name, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load_file_cached(path: Path, default_name: str, _mtime_ns: int, _size: int) -> ModelConfig:
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; give a config.json (JSON) file") from None
    return model_from_hf_dict(data, str(path), default_name)


def load_model(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> ModelConfig:
    """A built-in preset by name, or a Hugging Face ``config.json`` (file or its directory).

    ``overrides`` replaces fields after loading (e.g. ``{"num_layers": 64}`` for the
    ``afm-server`` assumption); the result is validated again.
    """
    text = str(name_or_path)
    if not text.strip():  # Path("") is the current directory: its config.json would stand in silently
        raise ConfigError(f"the model name is empty; give a preset name ({', '.join(list_models())}) or a "
                          "config.json path")
    if text in list_models():
        model = _load_file(_PRESETS / f"{text}.json", text)
    else:
        path = Path(text)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            if path.suffix == ".json" or "/" in text or "\\" in text:  # meant as a file, not a preset name
                raise ConfigError(f"model file '{path}' does not exist; give a config.json path or a preset "
                                  f"name ({', '.join(list_models())})")
            raise UnknownNameError("model", text, list_models())
        model = _load_file(path.resolve(), path.parent.name if path.name == "config.json" else path.stem)
    if not overrides:
        return model
    unknown = set(overrides) - set(ModelConfig.model_fields)
    if unknown:
        raise ConfigError(
            f"model '{model.name}': unknown override(s) {sorted(unknown)}; valid: "
            f"{', '.join(ModelConfig.model_fields)}"
        )
    try:
        return ModelConfig(**{**model.model_dump(), **overrides})
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"model '{model.name}': {first['loc'][0]}: {first['msg']}") from None


def param_counts(model: ModelConfig) -> dict[str, int]:
    """``params_total`` (every expert) and ``params_active`` (per token), as in every JSON output."""
    return {"params_total": model.n_params(), "params_active": model.n_active_params()}


def describe_params(model: ModelConfig) -> str:
    """``"8.03 B parameters"`` or, for MoE, ``"671.0 B parameters, 37.6 B active"``."""
    total, active = model.n_params() / 1e9, model.n_active_params() / 1e9
    digits = 2 if total < 100 else 1
    if model.is_moe:
        return f"{total:.{digits}f} B parameters, {active:.{digits}f} B active"
    return f"{total:.{digits}f} B parameters"
