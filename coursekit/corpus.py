"""A small, generated English corpus for the embedding lecture and hw1.

Why generated: the kit runs offline, and a corpus drawn from a grammar with known word
categories lets us *check* what embeddings learn (animals near animals, foods near foods),
which a tiny real corpus cannot show reliably.

Sentences come from templates such as "the {person} {eat_verb} the {food}"; the words in a
category are interchangeable in their contexts, which is the distributional hypothesis in its
purest form. Everything is deterministic in ``seed``.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

# Word categories: each word belongs to exactly one category (used to colour plots and to
# score neighbour quality).
CATEGORIES: dict[str, list[str]] = {
    "person": ["man", "woman", "boy", "girl", "king", "queen", "farmer", "teacher"],
    "animal": ["cat", "dog", "horse", "cow", "sheep", "mouse", "goat", "rabbit"],
    "food": ["apple", "bread", "cheese", "rice", "soup", "banana", "cake", "egg"],
    "vehicle": ["car", "bus", "train", "bike", "boat", "truck", "tram", "van"],
    "place": ["city", "village", "farm", "forest", "river", "market", "school", "park"],
    "colour": ["red", "green", "blue", "yellow", "black", "white", "brown", "grey"],
    "eat_verb": ["ate", "cooked", "bought", "sold", "shared", "tasted"],
    "ride_verb": ["drove", "rode", "parked", "washed", "fixed", "steered"],
    "animal_verb": ["fed", "chased", "watched", "brushed", "walked", "found"],
    "move_verb": ["ran", "went", "came", "walked", "hurried", "wandered"],
}

# Function words are their own category.
FUNCTION_WORDS = ["the", "a", "to", "near", "in", "and", "with", "."]

TEMPLATES: list[str] = [
    "the {person} {eat_verb} the {food} .",
    "the {person} {eat_verb} a {colour} {food} .",
    "the {animal} {eat_verb} the {food} in the {place} .",
    "the {person} {ride_verb} the {vehicle} to the {place} .",
    "the {person} {ride_verb} a {colour} {vehicle} .",
    "a {colour} {vehicle} stopped near the {place} .",
    "the {person} {animal_verb} the {animal} .",
    "the {person} {animal_verb} the {colour} {animal} near the {place} .",
    "the {animal} {move_verb} to the {place} .",
    "the {person} {move_verb} to the {place} with the {animal} .",
    "the {person} and the {person} {eat_verb} the {food} .",
    "the {vehicle} {move_verb} to the {place} .",
]


def generate_sentences(n_sentences: int = 3000, seed: int = 0) -> list[list[str]]:
    """Return ``n_sentences`` tokenised sentences (lists of lower-case words)."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        template = rng.choice(TEMPLATES)
        words = []
        for token in template.split():
            if token.startswith("{") and token.endswith("}"):
                words.append(rng.choice(CATEGORIES[token[1:-1]]))
            else:
                words.append(token)
        sentences.append(words)
    return sentences


def category_of(word: str) -> str:
    """The category a word was generated from ('function' for the, a, to, ...).

    A word listed in two categories (``walked``) gets the first one.
    """
    for name, words in CATEGORIES.items():
        if word in words:
            return name
    return "function"


@dataclass
class Vocab:
    """Word <-> id mapping, ids ordered by frequency (most frequent first, ties by word)."""

    itos: list[str]
    counts: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: list[list[str]]) -> "Vocab":
        counter = Counter(w for s in sentences for w in s)
        ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(itos=[w for w, _ in ordered], counts=[c for _, c in ordered])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, sentence: list[str]) -> list[int]:
        return [self.stoi[w] for w in sentence]

    def decode(self, ids) -> list[str]:
        return [self.itos[int(i)] for i in ids]


def load_corpus(n_sentences: int = 3000, seed: int = 0) -> tuple[list[list[int]], Vocab]:
    """The course corpus as token ids plus its vocabulary.

    >>> ids, vocab = load_corpus(10)
    >>> vocab.decode(ids[0])[:1]
    ['the']
    """
    sentences = generate_sentences(n_sentences, seed)
    vocab = Vocab.build(sentences)
    return [vocab.encode(s) for s in sentences], vocab
