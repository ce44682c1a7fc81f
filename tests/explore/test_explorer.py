"""The explorer: per-day files from a projected-shaped table, and the page in Chromium."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.request

import numpy as np
import polars as pl
import pytest

from engine.errors import UserError
from engine.explore import build
from engine.synthetic import tweets
from tests.browser import serve

AXES = list(tweets.AXES)


@pytest.fixture(scope="module")
def projected(tmp_path_factory):
    """Synthetic tweets over 40 days projected on the hidden rating directions (what
    job=project writes: id, metadata, one column per axis)."""
    t = tweets.generate(n_rows=1500, dim=16, n_topics=6, n_basins=2, n_users=50, n_days=40,
                        n_labelled=10, seed=3)
    df = pl.from_arrow(t.batch.table)
    coords = t.batch.embeddings @ t.truth.q
    df = df.with_columns(**{a: coords[:, j] for j, a in enumerate(AXES)})
    path = tmp_path_factory.mktemp("run") / "projected.parquet"
    df.write_parquet(path)
    return path


@pytest.fixture(scope="module")
def explorer(projected):
    out = projected.parent / "explorer"
    return out, build(projected, out, AXES)


def test_one_file_per_day_rows_kept_in_order(projected, explorer):
    out, index = explorer
    df = pl.read_parquet(projected)
    per_day = df.group_by(pl.col("datetime").dt.date().alias("d")).len().sort("d")
    assert [d["day"] for d in index["days"]] == [d.isoformat() for d in per_day["d"]]
    assert [d["n"] for d in index["days"]] == per_day["len"].to_list()
    assert index["rows"] == len(df) and index["axes"] == AXES
    day = index["days"][5]["day"]
    render = json.loads((out / "render" / f"{day}.json").read_text())
    detail = json.loads((out / "detail" / f"{day}.json").read_text())
    expected = df.filter(pl.col("datetime").dt.date().cast(pl.String) == day).sort("datetime")
    assert detail["id"] == expected["id"].to_list()
    assert detail["text"] == expected["full_text"].to_list()
    np.testing.assert_allclose(render["a"][1], expected["charity"].to_numpy(), atol=5e-4)
    counts = (expected["retweet_count"] + expected["favorite_count"]).to_numpy()
    assert render["s"] == np.clip(np.round(np.log(counts + 1)), 0, 9).astype(int).tolist()
    cats = [index["categories"].index(c) for c in expected["category"]]
    assert render["c"] == cats


def test_small_memory_budget_gives_the_same_files(projected, explorer, tmp_path):
    out, _ = explorer
    build(projected, tmp_path / "e", AXES, max_rows=100)  # many day ranges
    for f in sorted((out / "render").iterdir())[:50]:
        assert (tmp_path / "e" / "render" / f.name).read_text() == f.read_text()


def test_max_per_day_keeps_the_most_engaged(projected, explorer, tmp_path):
    _, full = explorer
    index = build(projected, tmp_path / "e", AXES, max_per_day=10)
    df = pl.read_parquet(projected).with_columns(
        d=pl.col("datetime").dt.date().cast(pl.String),
        e=pl.col("retweet_count") + pl.col("favorite_count"))
    for entry, whole in zip(index["days"], full["days"], strict=True):
        assert entry["n"] == min(10, whole["n"]) and entry["total"] == whole["n"]
    day = max(index["days"], key=lambda d: d["total"])["day"]
    detail = json.loads((tmp_path / "e" / "detail" / f"{day}.json").read_text())
    rows = df.filter(pl.col("d") == day)
    kept = rows.filter(pl.col("id").is_in(detail["id"]))
    assert kept["e"].min() >= rows.filter(~pl.col("id").is_in(detail["id"]))["e"].max()
    assert detail["id"] == kept.sort("datetime")["id"].to_list()  # still in time order


def test_created_at_strings_and_bad_columns(projected, tmp_path):
    df = pl.read_parquet(projected).with_columns(
        created_at=pl.col("datetime").dt.replace_time_zone("UTC")
        .dt.strftime("%a %b %d %H:%M:%S %z %Y")).drop("datetime")
    path = tmp_path / "projected.parquet"
    df.write_parquet(path)
    from engine.explore.build import Columns

    index = build(path, tmp_path / "e", AXES, Columns(time="created_at"))
    assert index["rows"] == len(df)
    with pytest.raises(UserError, match="no column 'nope'"):
        build(path, tmp_path / "f", ["nope", "charity"], Columns(time="created_at"))
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("bad", ["not a time", None])
def test_unparseable_or_missing_time_is_one_line_naming_the_row(projected, tmp_path, bad):
    df = pl.read_parquet(projected).with_columns(pl.col("datetime").dt.strftime("%Y-%m-%d %H:%M"))
    victim = df["id"][7]
    df = df.with_columns(datetime=pl.when(pl.col("id") == victim).then(pl.lit(bad))
                         .otherwise(pl.col("datetime")))
    path = tmp_path / "projected.parquet"
    df.write_parquet(path)
    with pytest.raises(UserError, match=f"'datetime'.*unparseable time.*id {victim!r}"):
        build(path, tmp_path / "e", AXES)
    assert not (tmp_path / "e").exists()


def expected_drawn(index, i, half_life=3.0):
    """Tweets the page draws on day i: those of the days within the fade window."""
    span = min(90, half_life * math.log2(1 / 0.03))
    day = np.array([np.datetime64(d["day"]) for d in index["days"]])
    age = (day[i] - day[: i + 1]).astype(int)
    return sum(d["n"] for d, a in zip(index["days"][: i + 1], age, strict=True) if a <= span)


def test_explorer_in_chromium(explorer, page, tmp_path):
    out, index = explorer
    with serve(out) as url:
        page.goto(url)
        page.wait_for_function("+document.getElementById('plot').dataset.drawn > 0")
        assert page.locator("#day").text_content() == index["days"][0]["day"]
        assert int(page.locator("#plot").get_attribute("data-drawn")) == expected_drawn(index, 0)
        page.locator("#slider").fill("20")
        page.wait_for_function("document.getElementById('plot').dataset.day === "
                               f"'{index['days'][20]['day']}' && "
                               "!document.getElementById('status').textContent"
                               ".includes('loading')")
        assert page.locator("#day").text_content() == index["days"][20]["day"]
        assert int(page.locator("#plot").get_attribute("data-drawn")) == expected_drawn(index, 20)
        # A shorter half-life draws fewer (older) tweets.
        page.locator("#halflife").fill("0.5")
        page.locator("#halflife").dispatch_event("change")
        assert int(page.locator("#plot").get_attribute("data-drawn")) == expected_drawn(
            index, 20, 0.5)
        # Tooltip of the newest tweet: its text and counts from the detail file.
        x, y, _, k = page.evaluate("window.explorer.points.at(-1)")
        box = page.locator("#plot").bounding_box()
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.wait_for_function("document.getElementById('tip').textContent.includes('likes')")
        detail = json.loads((out / "detail" / f"{index['days'][20]['day']}.json").read_text())
        assert detail["text"][k] in page.locator("#tip").inner_text()
        # Play advances the day.
        page.locator("#speed").fill("50")
        page.locator("#play").click()
        page.wait_for_function("window.explorer.day > 22")
        page.locator("#play").click()
        page.screenshot(path=str(tmp_path / "explorer.png"))
    assert page.errors == []


def test_cli_builds_and_serves_on_localhost(projected, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "project").mkdir(parents=True)
    (run_dir / "project" / "projected.parquet").write_bytes(projected.read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "engine.explore", str(run_dir), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[0].startswith("built ")
        url = lines[1].split()[1]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "index.json", timeout=10) as r:
            assert json.load(r)["rows"] == 1500
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "engine.explore", str(tmp_path / "none"),
                          "--no-serve"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def test_cli_on_a_busy_port_says_to_use_port_0(projected, tmp_path):
    import socket

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "projected.parquet").write_bytes(projected.read_bytes())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "engine.explore", str(run_dir),
                               "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert f":{port}" in proc.stderr and "--port 0" in proc.stderr


def test_text_that_is_not_utf8_is_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 10
    pq.write_table(pa.table({
        "id": np.arange(n), "datetime": pa.array(np.arange(n) * 86400, pa.timestamp("s")),
        "sincerity": np.linspace(0, 1, n), "charity": np.linspace(1, 0, n),
        "full_text": pa.array([b"caf\xe9"] * n, pa.binary())}),  # Latin-1
        tmp_path / "projected.parquet")
    with pytest.raises(UserError, match="projected.parquet: column 'full_text' is not UTF-8"):
        build(tmp_path / "projected.parquet", tmp_path / "explorer", ["sincerity", "charity"])
    assert not (tmp_path / "explorer").exists()
