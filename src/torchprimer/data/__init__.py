"""Data sets by name (`registry`), splits and normalisation (`splits`), batching (`batches`),
augmentation on the device (`augment`), statistics (`stats`) and pictures (`inspection`)."""

from torchprimer.data.augment import make_augment
from torchprimer.data.batches import device_batches
from torchprimer.data.registry import (
    Dataset,
    LoadOptions,
    Source,
    absolute_name,
    check_data_options,
    file_slug,
    load,
    parse_name,
    sources,
)
from torchprimer.data.splits import Splits, channel_stats, normalize, prepare, split_indices, stratified_split

__all__ = [
    "Dataset",
    "LoadOptions",
    "Source",
    "Splits",
    "absolute_name",
    "channel_stats",
    "check_data_options",
    "device_batches",
    "file_slug",
    "load",
    "make_augment",
    "normalize",
    "parse_name",
    "prepare",
    "sources",
    "split_indices",
    "stratified_split",
]
