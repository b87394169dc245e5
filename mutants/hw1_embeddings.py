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
    Mutant("one_hot_squeeze", "one_hot", """
        def one_hot(indices, num_classes):
            # one_hot of a column of indices, then squeeze() the column away
            return F.one_hot(indices.unsqueeze(-1), num_classes).squeeze().float()
        """, description="squeeze() also drops a batch dimension of size 1: tensor([4]) gives (C,), not (1, C)"),
    Mutant("one_hot_width_from_max", "one_hot", """
        def one_hot(indices, num_classes):
            return F.one_hot(indices).float()
        """, description="F.one_hot without num_classes: the width is max(indices) + 1"),
    Mutant("one_hot_flatten_reshape", "one_hot", """
        def one_hot(indices, num_classes):
            flat = indices.reshape(-1)
            out = torch.zeros(flat.numel(), num_classes)
            out[torch.arange(flat.numel()), flat] = 1.0
            return out.reshape(*indices.shape, num_classes)
        """, correct=True, description="flatten, index assignment, reshape back (also 0-d and size-1 shapes)"),
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
    Mutant("cooc_index_no_accumulate", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                s = torch.tensor(s, dtype=torch.long)
                for offset in range(1, window + 1):
                    a, b = s[:-offset], s[offset:]
                    X[a, b] += 1          # a pair repeated at this offset is counted once
                    X[b, a] += 1
            return X
        """, description="vectorised X[a, b] += 1 with index tensors: repeated pairs count once (needs index_put_(accumulate=True))"),
    Mutant("cooc_skips_same_word", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                for i in range(len(s)):
                    for j in range(max(0, i - window), min(len(s), i + window + 1)):
                        if s[i] != s[j]:
                            X[s[i], s[j]] += 1
            return X
        """, description="skips pairs of equal words (s[i] != s[j]) instead of the position itself (i != j)"),
    Mutant("cooc_negative_index_wraps", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size)
            for s in sentences:
                for i in range(len(s)):
                    for j in range(i - window, i + window + 1):
                        if j != i and j < len(s):
                            X[s[i], s[j]] += 1      # j < 0 wraps around to the end of the sentence
            return X
        """, description="no lower bound on j: negative positions wrap to the end of the sentence"),
    Mutant("cooc_index_put_float64", "cooccurrence_matrix", """
        def cooccurrence_matrix(sentences, vocab_size, window):
            X = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
            ones = lambda n: torch.ones(n, dtype=torch.float64)
            for s in sentences:
                s = torch.tensor(s, dtype=torch.long)
                for offset in range(1, window + 1):
                    a, b = s[:-offset], s[offset:]
                    X.index_put_((a, b), ones(len(a)), accumulate=True)
                    X.index_put_((b, a), ones(len(a)), accumulate=True)
            return X
        """, correct=True, description="vectorised per offset with index_put_(accumulate=True), float64 counts"),
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
    Mutant("svd_sqrt_s_on_the_left", "svd_embeddings", """
        def svd_embeddings(cooc, dim):
            U, S, _ = torch.linalg.svd(cooc)
            return torch.diag(S[:dim].sqrt()) @ U[:, :dim]
        """, description="diag(sqrt S) on the left scales rows, not columns (a shape error unless dim == V)"),
    Mutant("svd_torch_svd_float64", "svd_embeddings", """
        def svd_embeddings(cooc, dim):
            U, S, V = torch.svd(cooc.double())
            return U[:, :dim] @ torch.diag(S[:dim] ** 0.5)
        """, correct=True, description="torch.svd in float64 and a diagonal matrix product (float64 result)"),
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
    Mutant("cosine_sqrt_of_product", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            sq = (E * E).sum(dim=1)                                  # squared norms
            return (E @ E.T) / torch.sqrt(sq[:, None] * sq[None, :])  # overflows for large vectors
        """, description="a·b / sqrt(|a|²|b|²): the product of squared norms overflows float32 for entries ~1e12"),
    Mutant("cosine_norm_without_keepdim", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            unit = E / E.norm(dim=1)          # (V, d) / (V,) broadcasts over the columns
            return unit @ unit.T
        """, description="norm(dim=1) without keepdim: divides column j by the norm of row j (silently when V == d or d == 1)"),
    Mutant("cosine_outer_of_norms", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            n = E.norm(dim=1)
            return (E @ E.T) / torch.outer(n, n)
        """, correct=True, description="dot products divided by the outer product of the norms"),
    Mutant("cosine_normalize_float64", "cosine_similarity_matrix", """
        def cosine_similarity_matrix(E):
            unit = F.normalize(E.double(), dim=1)
            return (unit @ unit.T).clamp(-1.0, 1.0)
        """, correct=True, description="F.normalize in float64, clamped to [-1, 1] (float64 result)"),
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
    Mutant("most_similar_skip_first_sorted", "most_similar", """
        def most_similar(E, index, k):
            unit = E / E.norm(dim=1, keepdim=True)
            order = torch.argsort(unit @ unit[index], descending=True)
            return order[1:k + 1]          # assumes the query itself is sorted first
        """, description="argsort(...)[1:k+1]: assumes the query is first, wrong when another row ties with it"),
    Mutant("most_similar_topk_k_plus_1", "most_similar", """
        def most_similar(E, index, k):
            sims = F.cosine_similarity(E, E[index].unsqueeze(0), dim=1)
            return sims.topk(k + 1).indices[1:]
        """, description="topk(k + 1) and drop the first: assumes the query is first, wrong when another row ties with it"),
    Mutant("most_similar_exclude_by_value", "most_similar", """
        def most_similar(E, index, k):
            unit = E / E.norm(dim=1, keepdim=True)
            sims = unit @ unit[index]
            order = torch.argsort(sims, descending=True)
            return order[sims[order] < 1 - 1e-6][:k]     # drops the query (similarity 1) ... and its duplicates
        """, description="excludes the query by its similarity (< 1), so rows parallel to it go too"),
    Mutant("most_similar_python_sorted", "most_similar", """
        def most_similar(E, index, k):
            unit = E / E.norm(dim=1, keepdim=True)
            sims = (unit @ unit[index]).tolist()
            others = sorted((i for i in range(len(sims)) if i != index), key=lambda i: -sims[i])
            return torch.tensor(others[:k])
        """, correct=True, description="python sorted() over the other rows (ties in index order)"),
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
    Mutant("sgns_bmm_squeeze", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                emb_u = self.center_embed(center)                                    # (B, d)
                emb_v = self.context_embed(context)                                  # (B, d)
                score = -F.logsigmoid(torch.sum(emb_u * emb_v, dim=1))
                neg_emb_v = self.context_embed(negatives)                            # (B, K, d)
                neg_score = torch.bmm(neg_emb_v, emb_u.unsqueeze(2)).squeeze()       # (B, K) ... unless B or K is 1
                neg_score = -torch.sum(F.logsigmoid(-neg_score), dim=1)
                return torch.mean(score + neg_score)
        """, description="bmm(...).squeeze(): with B=1 or K=1 a dimension of size 1 disappears"),
    Mutant("sgns_clamp_scores", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                emb_u = self.center_embed(center)
                emb_v = self.context_embed(context)
                score = torch.clamp(torch.sum(emb_u * emb_v, dim=1), max=10, min=-10)
                score = -F.logsigmoid(score)
                neg_score = torch.bmm(self.context_embed(negatives), emb_u.unsqueeze(2)).squeeze(2)
                neg_score = torch.clamp(neg_score, max=10, min=-10)
                neg_score = -torch.sum(F.logsigmoid(-neg_score), dim=1)
                return torch.mean(score + neg_score)
        """, description="clamps the scores to [-10, 10] (as some public word2vec code does): wrong for |u·v| > 10"),
    Mutant("sgns_log_one_minus_sigmoid", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.center_embed(center)                                        # (B, d)
                pos = torch.log(torch.sigmoid((self.context_embed(context) * v).sum(-1)))
                neg_scores = torch.einsum("bkd,bd->bk", self.context_embed(negatives), v)
                neg = torch.log(1 - torch.sigmoid(neg_scores)).sum(-1)               # -inf once sigmoid rounds to 1
                return -(pos + neg).mean()
        """, description="log(1 - sigmoid(x)) for the negatives: -inf when sigmoid(x) rounds to 1 (x > ~17 in float32)"),
    Mutant("sgns_bce_with_logits_float64", "SkipGramNegativeSampling", """
        class SkipGramNegativeSampling(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.center_embed = nn.Embedding(vocab_size, dim)
                self.context_embed = nn.Embedding(vocab_size, dim)

            def forward(self, center, context, negatives):
                v = self.center_embed(center).double()                               # (B, d)
                pos = (self.context_embed(context).double() * v).sum(-1, keepdim=True)       # (B, 1)
                neg = (self.context_embed(negatives).double() @ v.unsqueeze(-1)).squeeze(-1)  # (B, K)
                logits = torch.cat([pos, neg], dim=1)
                labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)], dim=1)
                per_example = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(1)
                return per_example.mean()
        """, correct=True, description="binary cross-entropy with logits (label 1 for the context, 0 for the negatives), in float64"),
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
    Mutant("cbow_squeeze", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                return self.out(self.embed(context).mean(dim=1).squeeze())
        """, description="squeeze() after the mean: a batch of one gives (V,), not (1, V)"),
    Mutant("cbow_bag_of_words_scatter", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                bag = torch.zeros(context.shape[0], self.embed.num_embeddings)
                bag.scatter_(1, context, 1.0)                      # a repeated word is counted once
                return self.out(bag @ self.embed.weight / context.shape[1])
        """, description="bag of words with scatter_ (not scatter_add_): a repeated context word counts once"),
    Mutant("cbow_one_hot_counts", "CBOW", """
        class CBOW(nn.Module):
            def __init__(self, vocab_size, dim):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, dim)
                self.out = nn.Linear(dim, vocab_size)

            def forward(self, context):
                counts = F.one_hot(context, self.embed.num_embeddings).float().mean(dim=1)   # (B, V)
                return self.out(counts @ self.embed.weight)
        """, correct=True, description="mean of one-hot rows times the embedding matrix"),
]
