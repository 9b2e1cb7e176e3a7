"""Top-activating contexts of any per-token score (saeprobe.saes.contexts)."""
import numpy as np
import pytest
import torch

from saeprobe.saes import contexts as CX


def decode(ids):
    return "".join(f"[{i}]" for i in ids)


TOK = np.array([10, 11, 12, 13, 20, 21, 22, 30, 31])
TIX = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])


def test_top_contexts_picks_the_largest_and_stays_in_its_text():
    s = np.array([0, 0, 5, 0, 0, 9, 0, 1, 0], dtype=float)
    t = CX.top_contexts(s, TOK, TIX, decode, n=2, before=5, after=5)
    assert t.row.tolist() == [5, 2] and t.score.tolist() == [9, 5]
    assert t.context.iloc[0] == "[20]«[21]»[22]"           # text 1 only, no spill into texts 0/2
    assert t.context.iloc[1] == "[10][11]«[12]»[13]"
    short = CX.top_contexts(s, TOK, TIX, decode, n=1, before=1, after=0)
    assert short.context.iloc[0] == "[20]«[21]»"


def test_top_contexts_per_text_cap_exclude_and_inactive_rows():
    s = np.array([8, 7, 6, 0, 0, 0, 0, 5, 0], dtype=float)
    assert CX.top_contexts(s, TOK, TIX, decode, n=3, per_text=1).row.tolist() == [0, 7]  # only 2 texts fire
    assert CX.top_contexts(s, TOK, TIX, decode, n=3, per_text=None).row.tolist() == [0, 1, 2]
    ex = TIX == 0
    assert CX.top_contexts(s, TOK, TIX, decode, n=3, exclude=ex).row.tolist() == [7]
    neg = -np.arange(9.0)
    assert CX.top_contexts(neg, TOK, TIX, decode, n=3).empty
    assert CX.top_contexts(neg, TOK, TIX, decode, n=2, positive_only=False).row.tolist() == [0, 4]
    with pytest.raises(ValueError, match="one entry per corpus row"):
        CX.top_contexts(s[:3], TOK, TIX, decode)


def test_token_means_groups_by_token():
    tok = np.array([1, 2, 1, 2, 3, 1])
    s = np.array([1.0, 5.0, 3.0, 7.0, 100.0, 2.0])
    t = CX.token_means(s, tok, decode, min_count=2)
    assert t.token_id.tolist() == [2, 1] and t["mean"].tolist() == [6.0, 2.0] and t["count"].tolist() == [2, 3]
    assert CX.token_means(s, tok, decode, min_count=1).token_id.iloc[0] == 3


def test_latent_columns_match_dense_encoding():
    from saeprobe.saes.encode import dense_encode

    class Cfg:
        d_in, d_sae = 4, 6

    class ToySAE:  # a ReLU SAE with the sae-lens encode() surface
        cfg = Cfg()
        W_enc = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))

        def encode(self, x):
            return torch.relu(x @ self.W_enc)

    sae = ToySAE()
    acts = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
    cols = CX.latent_columns(sae, acts, [5, 0, 3])
    full = dense_encode(sae, acts)
    assert cols.shape == (20, 3)
    np.testing.assert_allclose(cols, full[:, [5, 0, 3]], rtol=1e-6)
