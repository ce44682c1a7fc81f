"""Meta statements: statements that describe the participants ("I am under 30", "I live in a
town") rather than ask an opinion, marked `is_meta` by a Polis moderator.

Clojure Polis (`math/src/polismath/math/conversation.clj`, `mod-update`) puts every meta
statement into `mod-out`, so its math treats it exactly as a statement moderated out: the
rating matrix's column is set to 0 for every participant (`nm/zero-out-columns`), which takes
it out of the PCA and the projections, and it is never selected as representative or
consensus. Votes on it still count towards the in-conversation filter (`user-vote-counts` is
taken on the raw matrix). Its only other use, a fixed `meta-priority` in the order statements
are shown to voters, decides nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine._opinion.votes import VoteMatrix
from engine.errors import UserError


def mark(m: VoteMatrix, given: Iterable, from_file: Iterable = (), listed: Iterable = (),
         setting: str = "job.meta_statements") -> None:
    """Mark the statements in `given` (the setting) and `from_file` (an export's own flags) as
    meta in `m`, in place: `m.meta` per statement, and each one moderated out. `listed` are
    statements the input knows without votes (e.g. in comments.csv): marking one of those
    changes nothing, as in Polis. A statement id in `given` the input does not have is a
    UserError naming `setting` and the id."""
    by_text = {str(s): i for i, s in enumerate(np.asarray(m.statement_ids).tolist())}
    known = set(by_text) | {str(s) for s in listed}
    meta = np.zeros(m.shape[1], bool)
    for sid in [*given, *from_file]:
        if str(sid) not in known:
            raise UserError(f"{setting}: statement {sid!r} is not in the votes"
                            + (" or the comments" if listed else ""))
        col = by_text.get(str(sid))
        if col is not None:
            meta[col] = True
    m.meta = meta
    m.moderated_out = m.moderated_out | meta
