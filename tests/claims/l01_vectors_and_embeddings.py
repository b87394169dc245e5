"""Claims of lecture 1 (vectors and embeddings), checked against its own run."""
from claims import Claim

CLAIMS = [
    Claim(says="i.e. about **100 vectors per second** of audio (slightly fewer, because the last window must "
               "fit entirely inside the signal: 1 s gives 98 frames, 2.5 s give 248)",
          value="[n_frames(1.0), n_frames(2.5), int(long_wave.unfold(0, win, hop).shape[0])]",
          holds=lambda v: v == [98, 248, 248],
          why="T = floor((N - win)/hop) + 1 at 16 kHz, 400-sample window, 160-sample hop; unfold agrees"),
    Claim(says="Dev's neighbours are Cho and Eve",
          value="[people[j] for j in G[3].nonzero().flatten().tolist()]",
          holds=lambda v: v == ["Cho", "Eve"], why="row 3 of the adjacency matrix"),
    Claim(says="Methanol, $\\mathrm{CH_3OH}$, has 6 atoms",
          value="[len(atoms), atoms.count('H'), atoms.count('C'), atoms.count('O')]",
          holds=lambda v: v == [6, 4, 1, 1], why="CH3OH: one C, one O, four H"),
    Claim(says="**every pair of distinct words is equally unrelated**",
          value="[float(off_diag.abs().max()), float(torch.cdist(onehot, onehot)[~torch.eye(len(words), dtype=torch.bool)].std())]",
          holds=lambda v: v[0] == 0.0 and v[1] < 1e-6,
          why="one-hot cosine is exactly 0 and every distance the same (sqrt 2)"),
    Claim(says="Our toy corpus has $\\lvert\\mathcal{V}\\rvert = 80$",
          value="vocab_size", holds=lambda v: v == 80, why="distinct words of the generated corpus"),
    Claim(says="so their *contexts* look alike even though the two words never appear in the same sentence",
          value="[sum(('cat' in s) and ('dog' in s) for s in sentences), "
                "float(F.cosine_similarity(C[vocab.stoi['cat']], C[vocab.stoi['dog']], dim=0))]",
          holds=lambda v: v[0] == 0 and v[1] > 0.9,
          why="no sentence has both; their co-occurrence rows have cosine > 0.9"),
    Claim(says="The first two singular values are huge, more than five times the third",
          value="float(sigma[1] / sigma[2])", holds=lambda v: v > 5.0, why="sigma_2 / sigma_3"),
    Claim(says="About nine more values (roughly one per word category) come before the largest drop of the rest "
               "of the spectrum (a factor of almost 2 between the 11th and the 12th value)",
          value="[int((sigma[2:40] / sigma[3:41]).argmax()) + 3, float((sigma[2:40] / sigma[3:41]).max())]",
          holds=lambda v: 10 <= v[0] <= 12 and 1.6 <= v[1] < 2.0,
          why="position (1-based) of the value before the largest ratio sigma_i/sigma_{i+1} past the first two: "
              "the 11th (10-12 accepted), ratio in [1.6, 2)"),
    Claim(says="The top $k = 10$ values keep over 99% of",
          value="float(energy)", holds=lambda v: v > 0.99, why="share of ||C||_F^2 in the top 10 singular values"),
    Claim(says="point in nearly the same direction (cosine above 0.95)",
          value="float(F.cosine_similarity(W_count[vocab.stoi['cat']], W_count[vocab.stoi['dog']], dim=0))",
          holds=lambda v: v > 0.95, why="10-D count embeddings of cat and dog"),
    Claim(says="frequent words like \"the\" are sampled a little less, rare words a little more",
          value="[float(noise[0] / p_unigram[0]), float(noise[-1] / p_unigram[-1])]",
          holds=lambda v: 0.5 < v[0] < 1.0 and 1.0 < v[1] < 3.0,
          why="P_n / P for the most frequent word below 1, for the rarest above 1, both by a modest factor"),
    Claim(says="the loss must start at $(K + 1)\\log 2 \\approx 4.16$ for $K = 5$",
          value="[sg_losses[0], cbow_losses[0]]",
          holds=lambda v: all(abs(x - 6 * 0.6931471805599453) < 1e-3 for x in v),
          why="first-step loss of both negative-sampling models, u = 0 at initialisation"),
    Claim(says="The loss does not go to zero (it ends near 2, half its start)",
          value="float(np.mean(sg_losses[-50:]))", holds=lambda v: 1.7 < v < 2.5,
          why="mean of skip-gram's last 50 losses, start 4.16"),
    Claim(says="after \"the cat ate the\" comes any of 8 foods",
          value="[len(CATEGORIES['food']), sum(s[:3] == ['the', 'cat', 'ate'] for s in sentences) > 0]",
          holds=lambda v: v == [8, True], why="the corpus has such sentences and 8 foods"),
    Claim(says="(section 4.2 scores every person, food and vehicle at 1.00)",
          value="[float(np.mean([scores[f'skip-gram (d={d_w2v})'][i] for i in content if cats[i] == c])) "
                "for c in ('person', 'food', 'vehicle')]",
          holds=lambda v: v == [1.0, 1.0, 1.0], why="skip-gram top-5 neighbour quality per category"),
    Claim(says="about 3.2 times fewer here",
          value="len(sg_losses) / len(cbow_losses)", holds=lambda v: 3.0 < v < 3.4,
          why="skip-gram steps per CBOW-NS step (at most 2m = 4)"),
    Claim(says="Both families recover the categories almost perfectly on this clean corpus (0.96 or more "
               "overall, against a chance level of 0.08; the random table scores near chance)",
          value="[float(np.mean(list(scores[m].values()))) for m in methods] + [float(chance)]",
          holds=lambda v: min(v[1:4]) >= 0.955 and abs(v[4] - 0.08) < 0.005 and abs(v[0] - v[4]) < 0.06,
          why="[random, count SVD, skip-gram, CBOW-NS, chance]: trained >= 0.96 (rounded), random within 0.06 of chance"),
    Claim(says="mistakes are in two verb classes, and all of them come from one word: \"walked\"",
          value="[sorted({category_of(w) for p in mistakes.values() for w, _ in p}), "
                "all('walked' in pair for pair in mistakes[f'skip-gram (d={d_w2v})']), "
                "all('walked' in pair or category_of(pair[0]) == 'animal_verb' "
                "for p in mistakes.values() for pair in p), sum(len(p) for p in mistakes.values())]",
          holds=lambda v: v[0] == ["animal_verb", "move_verb"] and v[1] and v[2] and v[3] > 0,
          why="words with a wrong neighbour are animal or movement verbs; skip-gram's wrong pairs all contain "
              "'walked'; the others' wrong pairs contain 'walked' or are an animal verb's fifth neighbour"),
    Claim(says="\"walked\" ends up between the two groups, closer to the movement verbs",
          value="[float(np.mean([F.cosine_similarity(W_sg[vocab.stoi['walked']], W_sg[vocab.stoi[w]], dim=0) "
                "for w in CATEGORIES[c] if w != 'walked'])) for c in ('move_verb', 'animal_verb', 'food')]",
          holds=lambda v: v[0] > v[1] > v[2],
          why="mean cosine of walked to movement verbs > to animal verbs > to an unrelated category"),
    Claim(says="(L' = 7 here, unrelated to L = 6)",
          value="list(seq2seq(x).shape)", holds=lambda v: v == [2, 7, 100], why="(B, L', V_out)"),
    Claim(says="`torch.randn(48_000).unfold(0, 320, 80).shape` is `(597, 320)`",
          value="list(torch.randn(48_000).unfold(0, 320, 80).shape)", holds=lambda v: v == [597, 320],
          why="exercise 5's worked answer"),
]
