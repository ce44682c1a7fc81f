"""Meta statements as Polis's math treats them: moderated out (their column zeroed for every
participant), their votes still counting towards the in-conversation filter."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine._opinion import meta, model, readers
from engine._opinion.votes import from_columns
from engine.errors import UserError
from tests.opinion.meta_conversation import META, conversation, write_export


def fitted(voter, statement, vote, marked=(), **options):
    m = from_columns(voter, statement, vote, order="encounter")
    meta.mark(m, marked)
    return m, model.fit(m, model.Options(**options))[0]


def test_meta_statements_leave_the_groups_to_the_opinions():
    voter, statement, vote, opinion, trait = conversation()
    m, plain = fitted(voter, statement, vote)
    truth, by_trait = opinion[m.voter_ids], trait[m.voter_ids]
    # Left in, the participants' trait splits the map as much as their opinions.
    assert plain.k > 2
    assert adjusted_rand_score(truth, plain.group_of_voter()) < 0.6
    assert adjusted_rand_score(by_trait, plain.group_of_voter()) > 0.3
    m, marked = fitted(voter, statement, vote, META)
    assert marked.k == 2
    assert adjusted_rand_score(truth, marked.group_of_voter()) == 1.0
    assert m.is_meta.sum() == len(META) == m.moderated_out.sum()


def test_marking_meta_equals_zeroing_the_columns_for_everyone_as_polis_does():
    # Polis's mod-out: nm/zero-out-columns sets the column to 0 for every participant, voted
    # or not. In the input that is a pass from everyone on each meta statement.
    voter, statement, vote, _, _ = conversation()
    m, marked = fitted(voter, statement, vote, META)
    zeroed = np.where(np.isin(statement, META), 0, vote)
    m0, masked = fitted(voter, statement, zeroed)
    assert m0.voter_ids.tolist() == m.voter_ids.tolist()
    np.testing.assert_allclose(marked.pca.projection, masked.pca.projection, atol=1e-12)
    np.testing.assert_array_equal(marked.group_of_voter(), masked.group_of_voter())
    # Leaving the statements out is not the same: the zero columns count in Polis's
    # sqrt(n_statements / n_votes) scaling (every participant "voted" 0 on them).
    keep = ~np.isin(statement, META)
    m1, removed = fitted(voter[keep], statement[keep], vote[keep])
    assert m1.voter_ids.tolist() == m.voter_ids.tolist()
    ratio = np.linalg.norm(marked.pca.projection, axis=1) / np.linalg.norm(
        removed.pca.projection, axis=1)
    n_votes = np.diff(m1.values.indptr)
    np.testing.assert_allclose(
        ratio, np.sqrt((14 / (n_votes + 6)) / (8 / n_votes)), rtol=1e-9)


def test_projection_matches_polis_zeroed_rating_matrix_computed_densely():
    # Polis's definition on a dense matrix (nil = not voted): meta columns zeroed for all,
    # missing votes filled with the column mean, centred, top-2 PCA; a participant's
    # projection sums over their non-nil entries, scaled by sqrt(n_columns / n_non_nil).
    voter, statement, vote, _, _ = conversation()
    m, marked = fitted(voter, statement, vote, META, pca_iters=0)  # converged PCA
    rows = {v: i for i, v in enumerate(m.voter_ids.tolist())}
    cols = {s: j for j, s in enumerate(m.statement_ids.tolist())}
    r = np.full(m.shape, np.nan)
    r[[rows[v] for v in voter], [cols[s] for s in statement]] = vote
    r[:, [cols[s] for s in META]] = 0.0
    center = np.nanmean(r, axis=0)
    a = np.where(np.isnan(r), 0.0, r - center)
    vt = np.linalg.svd(a, full_matrices=False)[2][:2]
    expected = (a @ vt.T) * np.sqrt(m.shape[1] / (~np.isnan(r)).sum(1))[:, None]
    for axis in range(2):
        sign = np.sign(expected[:, axis] @ marked.pca.projection[:, axis])
        np.testing.assert_allclose(marked.pca.projection[:, axis], sign * expected[:, axis],
                                   atol=1e-9)


def test_votes_on_meta_statements_count_towards_the_in_conversation_filter():
    # Polis's user-vote-counts come from the raw rating matrix: a participant with 4 opinion
    # votes and 3 on meta statements has 7 votes and is in the conversation.
    voter, statement, vote, _, _ = conversation()
    late = np.array([999] * 7)
    voter = np.r_[voter, late]
    statement = np.r_[statement, [0, 1, 4, 5, *META[:3]]]
    vote = np.r_[vote, [1, 1, -1, -1, 1, 1, 1]]
    m, marked = fitted(voter, statement, vote, META)
    assert marked.in_conv[m.voter_ids.tolist().index(999)]
    keep = ~np.isin(statement, META)
    m1, removed = fitted(voter[keep], statement[keep], vote[keep])
    assert not removed.in_conv[m1.voter_ids.tolist().index(999)]  # 4 votes: out


def test_unknown_statement_is_one_user_error_naming_the_setting_and_id():
    voter, statement, vote, _, _ = conversation()
    m = from_columns(voter, statement, vote, order="encounter")
    with pytest.raises(UserError, match=r"^job.meta_statements: statement 999 is not in the "
                                        r"votes$"):
        meta.mark(m, [100, 999])
    # Listed (e.g. in comments.csv) but never voted on: known, and nothing to zero (as in
    # Polis, where zero-out-columns skips a comment nobody has voted on yet).
    meta.mark(m, [100, 500], listed=[*range(8), *META, 500])
    assert m.is_meta.sum() == 1 and m.moderated_out.sum() == 1


def test_export_is_meta_column_is_read(tmp_path):
    export = readers.read_polis_export(write_export(tmp_path / "flagged", flag_meta=True))
    assert export.meta_ids == META
    plain = readers.read_polis_export(write_export(tmp_path / "plain", flag_meta=False))
    assert plain.meta_ids == []
    comments = tmp_path / "flagged" / "comments.csv"
    lines = comments.read_text().splitlines()
    lines[3] = lines[3].replace(",false,", ",maybe,")
    comments.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"comments.csv: column 'is-meta': 'maybe' at row 2 is "
                                        r"not true or false"):
        readers.read_polis_export(tmp_path / "flagged")
