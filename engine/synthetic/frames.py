"""Small synthetic datasets as polars DataFrames with their planted truth, for notebooks,
the API's examples and tests: the same generators as `data=synthetic`, held in memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from engine.io.embeddings import embedding_array


@dataclass
class Tweets:
    rows: pl.DataFrame  # id, datetime, user_id, category, counts, ..., embedding
    ratings: pl.DataFrame  # id, sincerity, charity, constructiveness (the rated subset)
    topics: np.ndarray  # planted topic per row (-1: diffuse)
    axes: np.ndarray  # (dim, 3) the hidden good-faith directions


def tweets(n_rows: int = 2000, *, dim: int = 32, n_topics: int = 8, n_basins: int = 3,
           n_users: int = 100, n_days: int = 365, n_labelled: int = 600, seed: int = 0
           ) -> Tweets:
    """Synthetic tweets (the `data=synthetic` corpus) with ratings on a labelled subset."""
    from engine.data import SyntheticTweets
    from engine.synthetic import tweets as T

    truth = T.make_truth(n_topics, n_basins, dim, n_users, n_days, "2024-01-01", seed)
    source = SyntheticTweets(n_rows, seed, truth, n_labelled)
    batch = source.read()
    table = batch.table.append_column("embedding", embedding_array(batch.embeddings))
    return Tweets(pl.from_arrow(table), pl.from_arrow(source.ratings()), source.topics(),
                  truth.q)


@dataclass
class Votes:
    votes: pl.DataFrame  # voter_id, statement_id, vote (+1 agree, -1 disagree, 0 pass), time
    groups: np.ndarray  # planted opinion group per voter id


def votes(n_voters: int = 300, *, n_statements: int = 30, n_groups: int = 3,
          density: float = 0.5, seed: int = 0) -> Votes:
    """A Polis-like vote matrix with planted opinion groups, most votes missing."""
    from engine.synthetic.votes import make_votes

    s = make_votes(n_voters, n_statements, n_groups, density, seed)
    frame = pl.DataFrame({"voter_id": s.voter.astype(np.int64),
                          "statement_id": s.statement.astype(np.int64),
                          "vote": s.vote.astype(np.int64), "time": s.time})
    return Votes(frame, s.truth.groups)


@dataclass
class Messages:
    rows: pl.DataFrame  # id, datetime, user_id, embedding; in time order
    topics: np.ndarray  # planted topic per message


def messages(n_messages: int = 3000, *, n_topics: int = 12, dim: int = 32, n_users: int = 50,
             n_days: float = 60, seed: int = 0) -> Messages:
    """A message stream with planted topics that start and stop (the `job=stream` data)."""
    from engine.synthetic import messages as M

    truth = M.make_truth(n_messages, n_topics, dim, n_users, n_days, "2024-01-01", seed)
    parts = list(M.iter_chunks(truth, seed))
    table = pa.concat_tables([t for t, _, _ in parts])
    emb = np.concatenate([e for _, e, _ in parts])
    table = table.append_column("embedding", embedding_array(emb))
    return Messages(pl.from_arrow(table), np.concatenate([t for _, _, t in parts]))
