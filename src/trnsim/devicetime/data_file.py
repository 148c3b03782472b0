"""Read one TOML data file into a validated pydantic model, with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from trnsim.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def read_model_file(path: Path, model: type[Model]) -> Model:
    """Parse ``path`` as ``model``; a bad file is one ``ConfigError`` line naming the file and field."""
    try:
        return model(**tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read TOML: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {loc}: {first['msg']}") from None
