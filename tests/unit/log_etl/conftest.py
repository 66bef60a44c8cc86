from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from functions.log_etl.parse import open_parser
from functions.log_etl.stream import Counts, Rejected

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "real-logs"


@dataclass
class Result:
    table: pa.Table
    rejects: list[Rejected]
    counts: Counts


def parse_bytes(data: bytes, log_format: str, **options: int) -> Result:
    parser = open_parser(io.BytesIO(data), log_format)
    for name, value in options.items():
        setattr(parser, name, value)
    blocks = list(parser)
    tables = [b.table for b in blocks]
    table = pa.concat_tables(tables) if tables else pa.table({})
    return Result(table, [r for b in blocks for r in b.rejects], parser.counts)


@pytest.fixture
def fixture_bytes():
    def load(relative: str) -> bytes:
        return (FIXTURES / relative).read_bytes()

    return load
