"""Data sets by name (`registry`), splits and normalisation (`splits`), batching (`batches`)."""

from torchprimer.data.batches import device_batches
from torchprimer.data.registry import Dataset, LoadOptions, Source, load, parse_name, sources
from torchprimer.data.splits import Splits, channel_stats, normalize, prepare, stratified_split

__all__ = [
    "Dataset",
    "LoadOptions",
    "Source",
    "Splits",
    "channel_stats",
    "device_batches",
    "load",
    "normalize",
    "parse_name",
    "prepare",
    "sources",
    "stratified_split",
]
