"""Time columns of every common form -> datetime64[ns]; unparseable values are named."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from engine.errors import UserError
from engine.io.times import to_datetime64

EXPECTED = np.array(["2018-10-10T20:19:24", "2019-01-02T03:04:05"], dtype="datetime64[ns]")


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["Wed Oct 10 20:19:24 +0000 2018", "Wed Jan 02 03:04:05 +0000 2019"]),
        pa.array(["2018-10-10T20:19:24", "2019-01-02T03:04:05"]),
        pa.array(["2018-10-10 20:19:24", "2019-01-02 03:04:05"]),
        pa.array(["2018-10-10T22:19:24+02:00", "2019-01-02T03:04:05+00:00"]),
        pa.array(EXPECTED.astype("datetime64[s]")),
        pa.array(EXPECTED.astype("datetime64[ms]")).cast(pa.timestamp("ms", tz="UTC")),
        pa.array(EXPECTED.astype("datetime64[s]").astype(np.int64)),  # epoch seconds
        pa.array(EXPECTED.astype("datetime64[ms]").astype(np.int64)),  # epoch milliseconds
    ],
)
def test_forms(column):
    np.testing.assert_array_equal(to_datetime64(column, "f.csv:datetime"), EXPECTED)


def test_dates():
    col = pa.array(np.array(["2020-02-03"], dtype="datetime64[D]"))
    assert to_datetime64(col, "x") == np.datetime64("2020-02-03", "ns")


def test_unparseable_string_named_with_id():
    col = pa.array(["2020-01-01", "yesterday", "2020-01-03"])
    with pytest.raises(UserError, match=r"t\.csv:created_at: unparseable time: value 'yesterday' at id 'b'"):
        to_datetime64(col, "t.csv:created_at", ids=["a", "b", "c"])


def test_missing_time_named():
    with pytest.raises(UserError, match="a missing value at row 1"):
        to_datetime64(pa.array(["2020-01-01", None]), "t.csv:datetime")
