"""AWS partitions (aws, aws-cn, aws-us-gov, ...) and their regions, as botocore's own data knows them.

botocore ships ``partitions.json`` (the data its endpoint rules resolve with): every partition's id, the regions
it has and the pattern their names follow. A region name is valid here when botocore lists it in a partition and
it follows that partition's pattern (which leaves out pseudo-regions such as ``aws-global``). A region launched
after the installed botocore is refused until botocore is upgraded: it is the library that has to reach it.
"""

from __future__ import annotations

import re
from functools import cache

import botocore
import botocore.loaders


@cache
def known_regions() -> dict[str, str]:
    """Every region botocore knows, mapped to its partition id."""
    data = botocore.loaders.create_loader().load_data("partitions")
    found: dict[str, str] = {}
    for partition in data["partitions"]:
        pattern = re.compile(partition["regionRegex"])
        found.update({name: partition["id"] for name in partition["regions"] if pattern.match(name)})
    return found


@cache
def partition_ids() -> frozenset[str]:
    """The partition ids botocore knows (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    data = botocore.loaders.create_loader().load_data("partitions")
    return frozenset(p["id"] for p in data["partitions"])


def partition_of(region: str) -> str | None:
    """The partition of a region botocore knows, or None."""
    return known_regions().get(region)


def check_region(region: str) -> str:
    """``region`` if botocore knows it; ValueError naming it otherwise (no AWS call)."""
    if partition_of(region) is None:
        raise ValueError(
            f"{region!r} is not a region botocore {botocore.__version__} knows (a region name such as eu-west-1; "
            "a region newer than botocore needs a newer botocore)"
        )
    return region
