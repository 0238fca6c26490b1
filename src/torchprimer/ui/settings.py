"""What a playground tab may ask for, with bounds, checked before anything is built.

Every field has limits a 2-core laptop can train interactively; a value outside them is
refused with a message naming the field, never a server error. The client names data
sets and options only: no field is a file path.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from torchprimer.data import toy
from torchprimer.models import ACTIVATIONS
from torchprimer.training.config import TrainConfig, make_config

MAX_LAYERS = 6
MAX_UNITS = 512
MAX_SAMPLES = 20_000
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 1.0
VAL_SHARE = 0.1  # a fixed validation share: the saved run's metrics.csv needs one


def datasets() -> dict[str, dict[str, object]]:
    """The data sets a tab may choose: the 2-D toy sets, then every registered set that is
    here now and needs no path (digits, mnist1d, MNIST once its files are present, ...)."""
    from torchprimer.data import LoadOptions, sources

    options = LoadOptions()
    found: dict[str, dict[str, object]] = {}
    for name, source in sources().items():
        if source.takes_path or not source.available(options):
            continue
        found[name] = {"toy": name in toy.TOYS, "description": source.description, "size": source.size,
                       "noise": toy.TOYS[name][0] if name in toy.TOYS else None, "own_test": source.own_test}
    return dict(sorted(found.items(), key=lambda item: not item[1]["toy"]))


def _not_a_boolean(value: Any) -> Any:
    """JSON's true and false are refused where a number is wanted: Python's bool is an int, so pydantic took
    {"lr": true} as lr 1.0 and [true, 2] as a 1-2 network, a setting nobody meant that trained without a word."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


def _whole(value: Any) -> Any:
    """A huge whole number sent as a float (1e23, what a page sends for 99999999999999999999999) as the integer it
    is: an integer field then says "less than or equal to 4096", not pydantic's "Unable to parse input string as an
    integer, exceeded maximum size", which is no hint at what is wrong (a float field takes the integer alike)."""
    if isinstance(value, float) and value.is_integer() and abs(value) > 2**53:
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """A number sent as a string, refused where it holds Python's digit separator: float() and pydantic read
    "1_0" as 10 (lr 10, a layer of 16 units from "1_6")."""
    if isinstance(value, str) and "_" in value:
        raise ValueError(f"must be a plain number, not {_shown(value)}")
    return value


Units = Annotated[int, BeforeValidator(lambda value: _whole(_not_a_boolean(_plain(value)))),
                  Field(ge=1, le=MAX_UNITS)]


class PlaygroundConfig(BaseModel):
    """One tab's data, network and optimiser; the defaults are TensorFlow Playground's: circles, 4-2 tanh."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "circles"
    noise: float | None = Field(None, ge=0.0, le=3.0, description="toy sets only; None = the set's default")
    n_samples: int = Field(600, ge=50, le=MAX_SAMPLES, description="toy sets only")
    train_share: float = Field(0.5, ge=0.1, le=0.8, description="share of the points trained on; sets with their "
                               "own test split ignore it")
    hidden: list[Units] = Field(default_factory=lambda: [4, 2], max_length=MAX_LAYERS)
    activation: str = "tanh"
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(0.03, gt=0.0, le=MAX_LR)
    batch_size: int = Field(16, ge=1, le=4096)
    weight_decay: float = Field(0.0, ge=0.0, le=MAX_WEIGHT_DECAY)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("noise", "n_samples", "train_share", "lr", "batch_size", "weight_decay", "seed", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        """NaN and infinities are refused by name: Python's JSON parser accepts NaN and Infinity, and a bound
        check on NaN would say 'less than or equal to 10', which is no hint at what is wrong. So are true and
        false (`_not_a_boolean`)."""
        number = _not_a_boolean(value)
        if isinstance(_plain(value), str):  # numbers may come as strings ("0.1"), and so may "nan" and "inf"
            try:
                number = float(value)
            except ValueError:
                return value  # not a number at all: the field's own check says what it wants
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {_shown(value) if isinstance(value, str) else value!r}")
        return _whole(value)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        known = datasets()
        if name not in known:
            raise ValueError(f"unknown or unavailable data set {_shown(name)}; choose one of {', '.join(known)}")
        return name

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {_shown(name)}; choose one of {', '.join(ACTIVATIONS)}")
        return name

    @model_validator(mode="after")
    def _blobs_need_noise(self) -> PlaygroundConfig:
        if self.dataset == "blobs" and self.noise == 0:
            raise ValueError("noise: blobs are Gaussian clusters and need a spread above 0, e.g. 1.0")
        return self

    @property
    def _own_test(self) -> bool:
        """Whether the set ships its own test split, so the training share does not apply to it."""
        from torchprimer.data.registry import ships_test_split

        return ships_test_split(self.dataset)

    @property
    def is_toy(self) -> bool:
        return self.dataset in toy.TOYS

    def train_config(self, epochs: int = 1) -> TrainConfig:
        """The same run as `torchprimer train` options, so a saved run is a normal run folder."""
        return make_config(
            dataset=self.dataset, model="mlp" if self.hidden else "linear",
            hidden=tuple(self.hidden) or None, activation=self.activation if self.hidden else None,
            optimizer=self.optimizer,
            lr=self.lr, batch_size=self.batch_size, weight_decay=self.weight_decay, seed=self.seed,
            epochs=max(1, epochs), device="cpu", val_fraction=VAL_SHARE,
            test_fraction=None if self._own_test else round(1.0 - VAL_SHARE - self.train_share, 6),
            noise=self.noise if self.is_toy else None, n_samples=self.n_samples if self.is_toy else None,
        )


def _shown(name: str, limit: int = 40) -> str:
    """A name as an error message quotes it: cut after `limit` characters (a 1 MB name came back whole)."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + f"... ({len(name):,} characters)"
