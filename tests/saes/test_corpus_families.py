"""saeprobe.saes.families: the SAE corpus split into two corpora of disjoint P1 source families
(P2's "two datasets" axis, page 30). Real P1 datasets from the sae-probes wheel; no model."""
from types import SimpleNamespace

import pytest
import torch

from saeprobe import load_profile
from saeprobe.saes import SAESpec
from saeprobe.saes import families as F


@pytest.fixture(scope="module")
def prof():
    return load_profile("smoke")


def _fake_corpus(prof, n_texts=60, heldout_texts=10):
    """A TokenCorpus-like object over real candidate texts: text i has 1 + i % 5 tokens."""
    texts = sorted(F.text_families(prof))[:: max(1, len(F.text_families(prof)) // n_texts)][:n_texts]
    tix = torch.cat([torch.full((1 + i % 5,), i, dtype=torch.long) for i in range(len(texts))])
    return SimpleNamespace(texts=texts, text_index=tix, heldout=tix < heldout_texts)


def test_split_is_disjoint_complete_and_deterministic(prof):
    fams = set(F.candidate_families(prof).values())
    assert len(fams) > 10
    # no evaluated dataset feeds the corpus
    assert not set(F.candidate_families(prof)) & set(prof.dataset_names())
    for corpus in (None, _fake_corpus(prof)):
        a, b = F.family_split(prof, corpus)
        assert a and b and not set(a) & set(b) and set(a) | set(b) == fams
        assert (a, b) == F.family_split(prof, corpus)  # deterministic
        assert list(a) == sorted(a) and list(b) == sorted(b)


def test_balanced_split_by_token_weight(prof):
    corpus = _fake_corpus(prof, n_texts=200, heldout_texts=0)
    a, b = F.family_split(prof, corpus)
    na, nb = int(F.family_rows(prof, corpus, a).sum()), int(F.family_rows(prof, corpus, b).sum())
    total = int(corpus.text_index.numel())
    # greedy balance: the two groups' tokens differ by at most the heaviest family's (plus shared texts)
    assert na > 0 and nb > 0 and na + nb <= total
    assert abs(na - nb) <= 0.6 * total


def test_rows_only_of_a_groups_texts_and_never_heldout(prof):
    corpus = _fake_corpus(prof)
    a, b = F.family_split(prof, corpus)
    ra, rb = F.family_rows(prof, corpus, a), F.family_rows(prof, corpus, b)
    assert ra.dtype == torch.bool and ra.shape == corpus.text_index.shape
    assert not (ra & rb).any()  # disjoint corpora: no token (so no text) in both
    assert not (ra & corpus.heldout).any() and not (rb & corpus.heldout).any()
    tf = F.text_families(prof)
    for i in corpus.text_index[ra].unique().tolist():
        assert tf[corpus.texts[i]] <= set(a)
    for i in corpus.text_index[rb].unique().tolist():
        assert tf[corpus.texts[i]] <= set(b)
    # the whole candidate set keeps every non-held-out token
    everything = F.family_rows(prof, corpus, a + b)
    assert torch.equal(everything, ~corpus.heldout)


def test_named_split_and_its_errors(prof):
    fams = sorted(set(F.candidate_families(prof).values()))
    a, b = F.family_split(prof, None, families_a=[fams[0], fams[1]])
    assert a == (fams[0], fams[1]) and set(b) == set(fams[2:])
    with pytest.raises(ValueError, match="not source families"):
        F.family_split(prof, None, families_a=["no_such_family"])
    with pytest.raises(ValueError, match="at least one family"):
        F.family_split(prof, None, families_a=fams)


def test_spec_train_families_key_and_name():
    base = SAESpec(arch="topk", width=64, k=8)
    fam = SAESpec(arch="topk", width=64, k=8, train_families=("phrase", "glue", "glue"))
    assert "train_families" not in base.to_dict()  # older SAEs keep their cache key
    assert fam.train_families == ("glue", "phrase") and fam.to_dict()["train_families"] == ("glue", "phrase")
    assert fam.name != base.name and fam.name.startswith(base.name + "-F")
    with pytest.raises(ValueError, match="at least one"):
        SAESpec(arch="topk", width=64, k=8, train_families=())
