"""hw1 mutants: typical mistakes (must lose points on their question) and correct alternatives
(must keep full marks). Each replaces one solution cell; see autograder/mutants.py."""
from autograder.mutants import Mutant

MUTANTS = [
    # ---------------------------------------------------------------- one_hot
    Mutant("one_hot_long_dtype", "one_hot", """
        def one_hot(indices, num_classes):
            return F.one_hot(indices, num_classes)
        """, description="F.one_hot returns int64; the contract asks for float"),
    Mutant("one_hot_flattens", "one_hot", """
        def one_hot(indices, num_classes):
            return torch.eye(num_classes)[indices.reshape(-1)]
        """, description="loses the input's shape for multi-dimensional indices"),
    Mutant("one_hot_eye_index", "one_hot", """
        def one_hot(indices, num_classes):
            return torch.eye(num_classes)[indices]
        """, correct=True, description="indexing an identity matrix"),
    Mutant("one_hot_scatter", "one_hot", """
        def one_hot(indices, num_classes):
            out = torch.zeros(*indices.shape, num_classes)
            return out.scatter_(-1, indices.unsqueeze(-1), 1.0)
        """, correct=True, description="scatter_"),
    Mutant("one_hot_warns", "one_hot", """
        import warnings
        def one_hot(indices, num_classes):
            warnings.warn("one_hot: using F.one_hot and converting to float")
            return F.one_hot(indices, num_classes).float()
        """, correct=True, description="correct, but prints a UserWarning to stderr (must keep full marks)"),
    # ---------------------------------------------------------------- cooccurrence_matrix
    Mutant("cooc_across_sentences", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            flat = [w for s in sentences for w in s]
            X = torch.zeros(vocab_size, vocab_size)
            for i in range(len(flat)):
                for j in range(max(0, i - window), min(len(flat), i + window + 1)):
                    if j != i:
                        X[flat[i], flat[j]] += 1
            return X
        """, description="concatenates the sentences, so windows cross sentence boundaries"),
    Mutant("cooc_window_exclusive", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                for i in range(len(s)):
                    for j in range(len(s)):
                        if i != j and abs(i - j) < window:
                            X[s[i], s[j]] += 1
            return X
        """, description="off by one: |i - j| < window"),
    Mutant("cooc_right_context_only", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                for i in range(len(s)):
                    for j in range(i + 1, min(len(s), i + window + 1)):
                        X[s[i], s[j]] += 1
            return X
        """, description="counts only the right-hand context (not symmetric)"),
    Mutant("cooc_vectorised_onehot", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                if not s:
                    continue
                oh = F.one_hot(torch.tensor(s), vocab_size).float()        # (L, V)
                pos = torch.arange(len(s))
                near = ((pos[:, None] - pos[None, :]).abs() <= window) & (pos[:, None] != pos[None, :])
                X += oh.T @ near.float() @ oh
            return X
        """, correct=True, description="vectorised per sentence with one-hot matrices"),
    Mutant("cooc_progress_bar", "cooccurrence_matrix", """
        from tqdm import tqdm
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in tqdm(sentences, desc="counting"):   # a plain tqdm bar writes to stderr
                for i in range(len(s)):
                    for j in range(max(0, i - window), min(len(s), i + window + 1)):
                        if j != i:
                            X[s[i], s[j]] += 1
            return X
        """, correct=True, description="correct, with a progress bar on stderr (must keep full marks)"),
    # ---------------------------------------------------------------- svd_embeddings
    Mutant("svd_no_sqrt", "svd_embeddings", """
        def svd_embeddings(cooc, dim):
            U, S, _ = torch.linalg.svd(cooc)
            return U[:, :dim] * S[:dim]
        """, description="scales by S instead of sqrt(S)"),
    Mutant("svd_smallest", "svd_embeddings", """
        def svd_embeddings(cooc, dim):
            U, S, _ = torch.linalg.svd(cooc)
            return U[:, -dim:] * S[-dim:].sqrt()
        """, description="keeps the smallest singular values"),
    Mutant("svd_right_vectors", "svd_embeddings", """
        def svd_embeddings(cooc, dim):
            U, S, Vh = torch.linalg.svd(cooc)
            return Vh[:dim].T * S[:dim].sqrt()
        """, description="uses the right singular vectors (same only for symmetric PSD matrices)"),
    Mutant("svd_numpy", "svd_embeddings", """
        import numpy as np
        def svd_embeddings(cooc, dim):
            U, S, _ = np.linalg.svd(np.asarray(cooc, dtype=np.float64))
            return torch.from_numpy(U[:, :dim] * np.sqrt(S[:dim])).float()
        """, correct=True, description="numpy SVD"),
    # ---------------------------------------------------------------- cosine_similarity_matrix
    Mutant("cosine_dot_product", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            return E @ E.T
        """, description="forgets to normalise"),
    Mutant("cosine_normalise_columns", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            unit = E / E.norm(dim=0, keepdim=True)
            return unit @ unit.T
        """, description="normalises columns instead of rows"),
    Mutant("cosine_functional", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            return F.cosine_similarity(E.unsqueeze(1), E.unsqueeze(0), dim=-1)
        """, correct=True, description="F.cosine_similarity with broadcasting"),
    # ---------------------------------------------------------------- most_similar
    Mutant("most_similar_includes_self", "most_similar", """
        def most_similar(E, index, k):
            unit = E / E.norm(dim=1, keepdim=True)
            return (unit @ unit[index]).topk(k).indices
        """, description="the query word is its own nearest neighbour"),
    Mutant("most_similar_dot_product", "most_similar", """
        def most_similar(E, index, k):
            sims = E @ E[index]
            sims[index] = -float("inf")
            return sims.topk(k).indices
        """, description="ranks by dot product, not cosine"),
    Mutant("most_similar_ascending", "most_similar", """
        def most_similar(E, index, k):
            unit = E / E.norm(dim=1, keepdim=True)
            sims = unit @ unit[index]
            order = torch.argsort(sims)
            return order[order != index][-k:]
        """, description="least similar first"),
    Mutant("most_similar_argsort", "most_similar", """
        def most_similar(E, index, k):
            sims = F.cosine_similarity(E, E[index].unsqueeze(0), dim=1)
            order = torch.argsort(sims, descending=True)
            return order[order != index][:k]
        """, correct=True, description="argsort and filter"),
    # ---------------------------------------------------------------- SkipGramNegativeSampling
    Mutant("sgns_sum_over_batch", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.center_embed(center)
                pos = F.logsigmoid((self.context_embed(context) * v).sum(-1))
                neg = F.logsigmoid(-(self.context_embed(negatives) @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
                return -(pos + neg).sum()
        """, description="sums over the batch instead of averaging"),
    Mutant("sgns_negative_sign", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.center_embed(center)
                pos = F.logsigmoid((self.context_embed(context) * v).sum(-1))
                neg = F.logsigmoid((self.context_embed(negatives) @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
                return -(pos + neg).mean()
        """, description="log σ(u_k·v_c) for the negatives (missing minus sign)"),
    Mutant("sgns_swapped_tables", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.context_embed(center)
                pos = F.logsigmoid((self.center_embed(context) * v).sum(-1))
                neg = F.logsigmoid(-(self.center_embed(negatives) @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
                return -(pos + neg).mean()
        """, description="centre and context tables swapped"),
    Mutant("sgns_log_of_sigmoid", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.center_embed(center)                                   # (B, d)
                total = torch.zeros(())
                for b in range(len(center)):
                    total = total - torch.log(torch.sigmoid(self.context_embed.weight[context[b]] @ v[b]))
                    for n in negatives[b]:
                        total = total - torch.log(torch.sigmoid(-self.context_embed.weight[n] @ v[b]))
                return total / len(center)
        """, correct=True, description="loops and log(sigmoid(.)) instead of logsigmoid"),
    # ---------------------------------------------------------------- CBOW
    Mutant("cbow_sum", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                return self.out(self.embed(context).sum(dim=1))
        """, description="sums the context vectors instead of averaging"),
    Mutant("cbow_softmax", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                return self.out(self.embed(context).mean(dim=1)).softmax(-1)
        """, description="returns probabilities instead of logits"),
    Mutant("cbow_embedding_bag", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                return self.out(F.embedding_bag(context, self.embed.weight, mode="mean"))
        """, correct=True, description="F.embedding_bag(mode='mean')"),
]
