import torch

from coursekit.corpus import CATEGORIES, Vocab, category_of, generate_sentences, load_corpus
from coursekit.word2vec import cbow_examples, sample_negatives, skipgram_pairs, unigram_table


def test_corpus_is_deterministic_and_uses_the_categories():
    assert generate_sentences(50, seed=3) == generate_sentences(50, seed=3)
    assert generate_sentences(50, seed=3) != generate_sentences(50, seed=4)
    ids, vocab = load_corpus(500)
    assert len(ids) == 500 and all(len(s) >= 4 for s in ids)
    words = set(vocab.itos)
    assert {"cat", "apple", "car", "king"} <= words
    assert category_of("apple") == "food" and category_of("the") == "function"
    assert vocab.counts == sorted(vocab.counts, reverse=True)
    assert sum(len(v) for v in CATEGORIES.values()) > 60


def test_vocab_round_trip():
    vocab = Vocab.build([["b", "a", "b"], ["c"]])
    assert vocab.itos == ["b", "a", "c"]
    assert vocab.decode(vocab.encode(["c", "a"])) == ["c", "a"]


def test_skipgram_pairs_match_a_brute_force_count():
    sents = [[0, 1, 2, 3], [4, 5], [6]]
    pairs = skipgram_pairs(sents, window=2)
    expected = {(s[i], s[j]) for s in sents for i in range(len(s)) for j in range(len(s))
                if i != j and abs(i - j) <= 2}
    assert pairs.shape == (len(expected), 2)
    assert {tuple(p) for p in pairs.tolist()} == expected


def test_cbow_examples_skip_or_pad_edges():
    ctx, tgt = cbow_examples([[0, 1, 2, 3, 4]], window=1)
    assert ctx.tolist() == [[0, 2], [1, 3], [2, 4]] and tgt.tolist() == [1, 2, 3]
    ctx, tgt = cbow_examples([[0, 1]], window=1, pad_id=9)
    assert ctx.tolist() == [[9, 1], [0, 9]] and tgt.tolist() == [0, 1]


def test_negative_sampling_distribution():
    probs = unigram_table([100, 10, 1])
    assert torch.isclose(probs.sum(), torch.tensor(1.0))
    assert probs[0] / probs[1] == torch.tensor(10.0) ** 0.75
    neg = sample_negatives(probs, 4, 3, generator=torch.Generator().manual_seed(0))
    assert neg.shape == (4, 3) and neg.dtype == torch.long
