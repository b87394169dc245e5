# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 6: Speaker identification
#
# Lectures 2-5 applied attention to sequences of word vectors. Speech is also a sequence of
# vectors, only longer and noisier. This lecture takes the task of homework 4, **speaker
# identification** (which of the known speakers said this?), and the three ideas that the
# homework asks you to implement (sections 4-6):
#
# 1. **Speech as a vector sequence**: frames, mel features, a spectrogram.
# 2. **The task and the data format** of hw4: utterances, crops, padding and masks.
# 3. **The sample model**: a Transformer encoder layer and mean pooling over time.
# 4. **Why a Conformer** adds convolution (local patterns) to attention (global), and its block.
# 5. **Self-attention pooling** vs mean pooling, when part of an utterance is silence or noise.
# 6. **Softmax vs additive-margin softmax**, with a 2-D picture of the learned features.
#
# All speech here is synthetic (`coursekit.speakers` renders voices with a source-filter
# synthesiser and sends them through random channels), so the lecture runs offline.
#
# English–中文 glossary: [glossary.md](glossary.md). The original course: Hung-yi Lee, ML 2021,
# "Self-attention (上)/(下)" (speech as a vector sequence, truncated self-attention), and ML 2022
# HW4, speaker classification (Conformer, self-attention pooling, additive margin softmax)
# ([ML 2021](https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php),
# [ML 2022](https://speech.ee.ntu.edu.tw/~hylee/ml/2022-spring.php)).
#
# **Notation** (the course's symbol table, [notation.md](notation.md)). Batch-first tensors: $B$
# batch, $T$ frames, $d$ model size, $C$ number of speakers (the classes; not the co-occurrence
# matrix $\mathbf{C}$ of lecture 1). Attention pooling has one score $s_t$ and one weight $a_t$
# per frame (a row of $\mathbf{S}$ and $\mathbf{A}$ with a single query). $x_t \in \mathbb{R}^{40}$ is the log-mel frame at time $t$. Shapes are comments on the
# line that creates a tensor. Every boolean mask means **True = real frame** (padding is False).

# %%
import csv
import json
import math
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Wedge
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from coursekit.speaker_data import PAD_VALUE, SpeakerDataset, collate_pad, lengths_to_mask
from coursekit.speaker_models import count_parameters, sample_model
from coursekit.speakers import (HOP_LENGTH, LOG_FLOOR, N_MELS, SAMPLE_RATE, WIN_LENGTH, SynthesisConfig,
                                _rng, draw_speaker, generate_dataset, hz_to_mel, log_mel_spectrogram,
                                mel_to_hz, num_frames, synthesize_utterance)

torch.manual_seed(0)
np.random.seed(0)
# One thread: the models are small, and this keeps the run time steady on a busy machine.
torch.set_num_threads(1)
plt.rcParams["figure.dpi"] = 100
LECTURE_START = time.perf_counter()

# %% [markdown]
# ## 1. Speech as a vector sequence
#
# A microphone gives a **waveform**: air pressure sampled 16 000 times a second. One second is
# 16 000 numbers, far too many and too redundant to feed a model one by one. The standard
# front end cuts the signal into short overlapping **frames** and describes each frame by its
# spectrum:
#
# * a **window** of 25 ms (400 samples), short enough that the vocal tract hardly moves inside
#   it, taken every **10 ms** (a hop of 160 samples): **100 frames per second**;
# * the power spectrum $|X(f)|^2$ of each windowed frame (512-point FFT: 257 frequency bins);
# * **40 mel bands**: triangular filters spaced evenly on the mel scale
#   $m = 2595 \log_{10}(1 + f / 700)$, dense at low frequencies and sparse at high ones, like the
#   ear's resolution;
# * the **natural log** of each band's energy, floored at $10^{-5}$ so that silence does not
#   give $-\infty$: every feature is $\ge \ln 10^{-5} = -11.51$.
#
# An utterance of $n$ samples becomes a matrix of shape $(T, 40)$ with
# $T = 1 + \lfloor (n - 400) / 160 \rfloor$: a sequence of 40-dimensional vectors, exactly
# the kind of input lectures 2-5 worked with. We draw two speakers of the synthetic population
# (a low and a high voice) and render one utterance of each.

# %%
print(f"window {WIN_LENGTH} samples = {1000 * WIN_LENGTH / SAMPLE_RATE:.0f} ms, hop {HOP_LENGTH} samples = "
      f"{1000 * HOP_LENGTH / SAMPLE_RATE:.0f} ms -> {SAMPLE_RATE // HOP_LENGTH} frames/s, {N_MELS} mel bands, "
      f"log floor ln({LOG_FLOOR:g}) = {math.log(LOG_FLOOR):.2f}")
SEED = 0
speakers = [draw_speaker(SEED, 0), draw_speaker(SEED, 1)]
for spk in speakers:
    print(f"{spk.name}: median F0 {spk.f0:5.1f} Hz, formant scale {spk.vtl:.3f}, "
          f"extra tilt {spk.tilt:.1f} dB/octave, speaking rate x{1 / spk.rate:.2f}")

waves = [synthesize_utterance(spk, _rng(SEED, 1, i, 0)) for i, spk in enumerate(speakers)]   # numpy (n,)
mels = [log_mel_spectrogram(w) for w in waves]                # each (T, 40)
for spk, w, m in zip(speakers, waves, mels):
    print(f"{spk.name}: {len(w)} samples = {len(w) / SAMPLE_RATE:.2f} s -> mel {tuple(m.shape)} "
          f"(1 + ({len(w)} - 400) // 160 = {num_frames(len(w))} frames)")

# %%
band_edges_hz = mel_to_hz(np.linspace(0, hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
band_centres_hz = band_edges_hz[1:-1]                          # (40,) centre of each triangle
fig, axes = plt.subplots(2, 2, figsize=(13, 5.8), gridspec_kw={"height_ratios": [1, 1.6]}, layout="constrained")
for col, (spk, w, m) in enumerate(zip(speakers, waves, mels)):
    t = np.arange(len(w)) / SAMPLE_RATE
    axes[0, col].plot(t, w, lw=0.3, color="k")
    axes[0, col].set(xlim=(0, t[-1]), xlabel="time (s)", ylabel="amplitude",
                     title=f"{spk.name} (F0 about {spk.f0:.0f} Hz): waveform")
    im = axes[1, col].imshow(m.T.numpy(), origin="lower", aspect="auto", cmap="magma",
                             extent=(0, len(m) / 100, -0.5, N_MELS - 0.5), vmin=-6, vmax=6)
    ticks = [0, 10, 20, 30, 39]
    axes[1, col].set_yticks(ticks, [f"{b}\n{band_centres_hz[b]:.0f} Hz" for b in ticks], fontsize=7)
    axes[1, col].set(xlabel="time (s), 100 frames/s", ylabel="mel band", title="log-mel spectrogram (T, 40), transposed")
fig.colorbar(im, ax=axes[1, :].tolist(), label="ln(energy)")
plt.show()

# %% [markdown]
# Read the spectrogram as a sequence of column vectors, one per 10 ms. Bright vertical
# stretches are syllables; the horizontal bright ridges inside a vowel are **formants**, the
# resonances of the vocal tract, which move as the tongue and lips move; dark columns are the
# pauses and closures between sounds, and the dark stretches at both ends are silence. The
# silence is not at the log floor (-11.5): every recording carries background noise from its
# channel, which shows up as a roughly constant colour (loud, broadband noise on the left,
# weak noise on the right).
#
# What tells the two speakers apart? Not the words (they are random syllables), but the voice:
# the level and range of the pitch, the length of the vocal tract (shorter tracts put all
# formants higher), how steeply the spectrum falls with frequency (tilt), breathiness. With
# 40 bands only the lowest harmonics of a high voice are resolved (the thin horizontal stripes
# in the lowest bands on the right, about 214 Hz apart); mostly the features describe the
# spectral **envelope**. Averaging the speech frames (the louder half of each utterance) of
# five utterances per speaker:

# %%
def speech_frames(mel):
    """The louder half of an utterance's frames: a crude voice-activity detector."""
    energy = mel.mean(dim=1)                                  # (T,) mean log energy of each frame
    return mel[energy >= energy.median()]                     # (T', 40)


speaker_means = []                                            # per speaker: (5, 40) utterance mean spectra
fig, ax = plt.subplots(figsize=(9, 3.6))
for i, (spk, colour) in enumerate(zip(speakers, ["tab:blue", "tab:red"])):
    means = torch.stack([speech_frames(log_mel_spectrogram(synthesize_utterance(spk, _rng(SEED, 1, i, u)))).mean(0)
                         for u in range(5)])                  # (5, 40) one mean spectrum per utterance
    speaker_means.append(means)
    for u, mean in enumerate(means):
        ax.plot(band_centres_hz, mean.numpy(), color=colour, lw=1, alpha=0.5,
                label=f"{spk.name}: 5 utterances" if u == 0 else None)
    ax.plot(band_centres_hz, means.mean(0).numpy(), color=colour, lw=2.5)
ax.set_xscale("log")
ax.set(xlabel="band centre (Hz, log scale)", ylabel="mean ln(energy) of speech frames",
       title="Mean spectrum of the speech frames, per utterance (thin) and per speaker (thick)")
ax.legend()
plt.show()

# %% [markdown]
# The clearest difference is at the bottom: below about 250 Hz the high voice (F0 about
# 214 Hz, so no harmonic below that) has little energy, while the low voice's fundamental
# (about 115 Hz) sits there. Elsewhere the utterances of *one* speaker scatter about as much as
# the two speakers differ: every utterance has its own words, loudness, channel and noise. This
# is what makes the task hard: a classifier must find the voice in sequences of frames that
# also contain silence, consonants and a random channel.
#
# ## 2. The task and the data format
#
# Homework 4 (after NTU ML2022 HW4) gives a set of utterances of **known speakers**; the test
# utterances are other recordings of the same speakers, and the model must name the speaker:
# a $C$-way classification of a variable-length sequence. The kit writes the data in the
# course's format; here a small version (8 speakers, 20 utterances each):

# %%
tmp = tempfile.TemporaryDirectory(prefix="lecture6-")        # removed at the end of the lecture
data_dir = Path(tmp.name) / "speakers"
answers_csv = Path(tmp.name) / "answers.csv"                  # outside the data folder: students never see it
info = generate_dataset(data_dir, n_speakers=8, utterances_per_speaker=20, seed=SEED,
                        answers_path=answers_csv, workers=1)
print(f"{info['speakers']} speakers, {info['train_valid_utterances']} labelled + {info['test_utterances']} test "
      f"utterances, {info['frames']} frames, {info['bytes'] / 1e6:.1f} MB, in {info['seconds']:.1f} s")
print(sorted(p.name for p in data_dir.iterdir())[:5], "...")

# %%
mapping = json.loads((data_dir / "mapping.json").read_text())
metadata = json.loads((data_dir / "metadata.json").read_text())
testdata = json.loads((data_dir / "testdata.json").read_text())
print("mapping.json  speaker2id:", dict(list(mapping["speaker2id"].items())[:3]), "...")
first = next(iter(metadata["speakers"]))
print(f"metadata.json n_mels = {metadata['n_mels']}, speakers['{first}'][:2] =",
      metadata["speakers"][first][:2])
print("testdata.json utterances[:1] =", testdata["utterances"][:1], "(no speaker)")
with open(answers_csv) as f:
    print("answers CSV (hidden from students):", next(csv.reader(f)), next(csv.reader(f)))
x0 = torch.load(data_dir / metadata["speakers"][first][0]["feature_path"])
print("one uttr-*.pt file:", x0.dtype, tuple(x0.shape), f"values in [{x0.min():.2f}, {x0.max():.2f}]")

# %% [markdown]
# Utterances have different lengths, here from about 1.5 to 5 seconds: 148 to 497 frames (a
# 5-second utterance, 80 000 samples, would have $1 + \lfloor (80000 - 400) / 160 \rfloor = 498$).

# %%
lengths = [u["mel_len"] for utts in metadata["speakers"].values() for u in utts]
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.hist(lengths, bins=20, color="tab:gray")
ax.axvline(128, color="tab:red", ls="--", label="training crop: 128 frames = 1.28 s")
ax.set(xlabel="frames (100 per second)", ylabel="utterances", title=f"Lengths of the {len(lengths)} labelled utterances")
ax.legend()
plt.show()

# %% [markdown]
# **Training** uses random **128-frame crops** (`SpeakerDataset(data_dir, segment_len=128)`):
# every batch is a fixed-size tensor, and each epoch sees other parts of each utterance (a free
# augmentation). **Validation and prediction** use whole utterances; a batch of different
# lengths is padded to the longest with **-20**, below every real feature (the smallest
# possible value is -11.51), and a mask says which frames are real.

# %%
torch.manual_seed(0)
train_view = SpeakerDataset(data_dir, segment_len=128)
crop, label = train_view[0]
print(f"training item: crop {tuple(crop.shape)}, speaker id {label}")

full_view = SpeakerDataset(data_dir, segment_len=None)
by_length = sorted(range(len(full_view)), key=lambda i: full_view.lengths[i])
batch_idx = [by_length[0], by_length[len(by_length) // 3], by_length[2 * len(by_length) // 3], by_length[-1]]
mels_b, lens_b, labels_b = collate_pad([full_view[i] for i in batch_idx])   # (B, T, 40), (B,), (B,)
mask_b = lengths_to_mask(lens_b, mels_b.shape[1])             # (B, T) True = real frame
print(f"padded batch {tuple(mels_b.shape)}, lengths {lens_b.tolist()}, labels {labels_b.tolist()}")
print(f"mask {tuple(mask_b.shape)}: real frames per row {mask_b.sum(1).tolist()}; "
      f"value in padding: {mels_b[0, -1, 0].item()} (PAD_VALUE = {PAD_VALUE})")

fig, axes = plt.subplots(len(batch_idx), 1, figsize=(11, 5), sharex=True)
for b, ax in enumerate(axes):
    ax.imshow(mels_b[b].T.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-20, vmax=6)
    ax.contour(np.tile(mask_b[b].numpy(), (N_MELS, 1)), levels=[0.5], colors="cyan", linewidths=1.5)
    ax.set_ylabel(f"row {b}\n{lens_b[b].item()} fr.", fontsize=8)
    ax.set_yticks([])
axes[-1].set_xlabel("frame (padding = -20, black; the cyan line is where the mask turns False)")
axes[0].set_title("A padded validation batch (B, T, 40), drawn as B spectrograms")
plt.show()

# %% [markdown]
# ## 3. The sample model
#
# The course's sample model maps the frames to one vector per utterance and classifies it:
#
# $$\underbrace{x_{1..T}}_{(B, T, 40)} \xrightarrow{\text{prenet: Linear}} (B, T, d)
#   \xrightarrow{\text{TransformerEncoderLayer}} (B, T, d)
#   \xrightarrow{\text{mean over real frames}} (B, d)
#   \xrightarrow{\text{Linear, ReLU, Linear}} (B, C)$$
#
# with $d = 80$, 2 heads and a feed-forward size of 256. **Mean pooling** is the simplest way to
# turn a sequence of any length into one vector:
#
# $$z = \frac{1}{\sum_t m_t} \sum_{t=1}^{T} m_t\, h_t, \qquad m_t = 1 \text{ for a real frame, } 0 \text{ for padding.}$$
#
# We push the padded batch through it, stage by stage.

# %%
torch.manual_seed(0)
C = full_view.num_speakers
model = sample_model(C).eval()                                # eval: no dropout, for exact comparisons
print(model)
print(f"{count_parameters(model):,} parameters")

# %%
with torch.no_grad():
    h = model.prenet(mels_b)                                  # (B, T, d) one linear map per frame
    print("prenet      ", tuple(h.shape))
    for block in model.blocks:
        h = block(h, mask_b)                                  # (B, T, d) attention over the real frames
    print("encoder     ", tuple(h.shape))
    z = model.pooling(h, mask_b)                              # (B, d) mean over real frames
    print("mean pooling", tuple(z.shape))
    logits = model.head(z)                                    # (B, C)
    print("head        ", tuple(logits.shape))
    print("same as model(mels, mask):", torch.allclose(logits, model(mels_b, mask_b), atol=1e-5))

# %% [markdown]
# Two checks of what the mask does. (1) Row 0 of the batch, padded, gives the same logits as
# the same utterance alone, without padding: padded frames are neither attended to nor
# averaged. (2) Without the mask the -20 frames enter both attention and the mean.

# %%
with torch.no_grad():
    n0 = lens_b[0].item()
    alone = model(mels_b[:1, :n0])                            # (1, C) the utterance on its own
    print("padded + mask vs alone:   max |diff| =", (model(mels_b, mask_b)[0] - alone[0]).abs().max().item())
    print("padded, no mask vs alone: max |diff| =", (model(mels_b)[0] - alone[0]).abs().max().item())
    mask_effect = ((model(mels_b, mask_b)[0] - alone[0]).abs().max().item(), (model(mels_b)[0] - alone[0]).abs().max().item())

# %% [markdown]
# **The sample model ignores the order of the frames.** It has no positional encoding,
# self-attention is permutation-equivariant (lecture 3) and a mean does not care about order.
# So shuffling the frames of an utterance changes nothing:

# %%
with torch.no_grad():
    x = mels_b[:1, :n0]                                       # (1, T, 40)
    perm = torch.randperm(n0)
    print("logits, original order: ", model(x)[0, :4].numpy().round(4))
    print("logits, frames shuffled:", model(x[:, perm])[0, :4].numpy().round(4))
    shuffle_change = (model(x) - model(x[:, perm])).abs().max().item()

# %% [markdown]
# For the sample model an utterance is a **bag of frames**. Much of a voice is in single
# frames (the spectral envelope), which is why it works at all; but how formants glide from
# one sound to the next, how pitch moves, what comes before and after a pause, is in short runs
# of neighbouring frames, and this model cannot see it. The homework's ladder (README,
# `benchmarks/hw4_rungs.py`), measured on the default dataset of 100 speakers with the same
# 2500-step recipe for every model, mean test accuracy over several training runs each: the
# sample model reaches 60.1 % test accuracy, a tuned two-layer Transformer 68.8 %, a 2-block
# Conformer ($d = 80$) with mean pooling 73.3 %, the same Conformer with self-attention pooling
# 76.4 %, and with AM-softmax as well 86.1 %. The next three sections are about the three changes.
#
# ## 4. Why convolution in addition to attention
#
# In a self-attention layer every output frame is a weighted average over **all** frames:
# the layer is global from the first layer on, and it must *learn* to look at neighbours (it
# can, through positional information, but nothing makes it easy). A **depthwise 1-D
# convolution** over time is the opposite: output frame $t$ of channel $c$ is
#
# $$y_{t,c} = \sum_{j=-\lfloor k/2\rfloor}^{\lfloor k/2\rfloor} w_{j,c}\, x_{t+j,c},$$
#
# a learned filter over the $k$ neighbouring frames, one filter per channel ("depthwise": no
# mixing of channels; that is left to pointwise $1 \times 1$ convolutions). It is local,
# shift-invariant (the same filter at every $t$) and knows order. With $k = 15$ it sees
# 150 ms, long enough for a consonant-vowel transition.
#
# We measure how much each output frame $t$ depends on each input frame $s$, as the size of
# the gradient $\lVert \partial (r^\top y_t) / \partial x_s \rVert$ for a random direction $r$,
# for a (random, untrained) `nn.TransformerEncoderLayer` and a depthwise `nn.Conv1d` with
# $k = 15$:

# %%
def dependence(f, x):
    """D[t, s] = || d(r . f(x)[t]) / d x[s] || for one random r per t; x (T, d) -> D (T, T)."""
    T = x.shape[0]
    D = torch.zeros(T, T)
    for t in range(T):
        xg = x.clone().requires_grad_(True)                   # (T, d)
        y = f(xg)                                             # (T, d)
        r = torch.randn(y.shape[1], generator=torch.Generator().manual_seed(t))
        (grad,) = torch.autograd.grad(y[t] @ r, xg)           # (T, d) effect of every input frame
        D[t] = grad.norm(dim=1)                               # (T,)
    return D


torch.manual_seed(0)
T_demo, d_demo = 60, 80
x_demo = torch.randn(T_demo, d_demo)                          # (T, d)
attn_layer = nn.TransformerEncoderLayer(d_demo, nhead=2, dim_feedforward=256, dropout=0.0, batch_first=True).eval()
depthwise = nn.Conv1d(d_demo, d_demo, kernel_size=15, padding=7, groups=d_demo)   # one 15-tap filter per channel
D_attn = dependence(lambda x: attn_layer(x[None])[0], x_demo)                     # (T, T)
D_conv = dependence(lambda x: depthwise(x.T[None])[0].T, x_demo)                  # (B=1, d, T) in and out
for name, D in [("attention layer", D_attn), ("depthwise conv k=15", D_conv)]:
    print(f"{name:20}: output frame 30 depends on {(D[30] > 1e-7).sum().item()} of {T_demo} input frames")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
for ax, D, title in [(axes[0], D_attn, "TransformerEncoderLayer: global"), (axes[1], D_conv, "depthwise Conv1d, k = 15: local")]:
    im = ax.imshow((D / D.max()).clamp_min(1e-4).log10().numpy(), cmap="viridis", vmin=-4, vmax=0)
    ax.set(xlabel="input frame s", ylabel="output frame t", title=title)
fig.colorbar(im, ax=axes.tolist(), fraction=0.025, label="log10 dependence (relative)")
plt.show()

# %% [markdown]
# The attention layer's output at $t$ depends on every input frame: strongly on its own (the
# residual connection, the diagonal) and weakly but not zero on all others. The convolution's
# dependence is exactly zero outside the band $|t - s| \le 7$. Speech has structure at both
# scales: local (the shape of a formant transition, a burst, a pitch glide: tens of
# milliseconds) and global (the same voice over the whole utterance, the channel). The
# **Conformer** (Gulati et al., 2020, [arXiv:2005.08100](https://arxiv.org/abs/2005.08100)) puts both into one block, and depthwise filters are
# cheap: $k \cdot d$ weights instead of $k \cdot d^2$ for a full convolution.

# %%
full = nn.Conv1d(d_demo, d_demo, kernel_size=15, padding=7)
print(f"depthwise Conv1d(80, 80, 15, groups=80): {count_parameters(depthwise):,} parameters; "
      f"full Conv1d(80, 80, 15): {count_parameters(full):,}")
x = x_demo.T[None]                                           # (B=1, d, T) Conv1d wants channels first
perm = torch.randperm(T_demo)
with torch.no_grad():
    shuffled = depthwise(x[:, :, perm])                       # (1, d, T) filter the shuffled frames
    print("conv of shuffled frames == shuffled conv output?",
          torch.allclose(shuffled, depthwise(x)[:, :, perm], atol=1e-5), "(a convolution sees order)")

# %% [markdown]
# ### 4.1 The Conformer block
#
# A Conformer block is a Transformer block with two changes: the feed-forward layer is split
# into two **half steps** around the other modules (the "Macaron" layout of Lu et al., 2019,
# [arXiv:1906.02762](https://arxiv.org/abs/1906.02762),
# inspired by splitting schemes for ODEs), and a **convolution module** follows the
# attention. With $x$ of shape $(B, T, d)$:
#
# $$\begin{aligned}
# x &\leftarrow x + \tfrac12\,\mathrm{FF}_1(x) && \text{half-step feed-forward}\\
# x &\leftarrow x + \mathrm{MHSA}(\mathrm{LayerNorm}(x)) && \text{global: self-attention over the real frames}\\
# x &\leftarrow x + \mathrm{Conv}(x) && \text{local: the convolution module}\\
# x &\leftarrow x + \tfrac12\,\mathrm{FF}_2(x) && \text{half-step feed-forward}\\
# y &= \mathrm{LayerNorm}(x) && \text{final norm}
# \end{aligned}$$
#
# Every sub-module has its own LayerNorm at its input (pre-norm, lecture 4) and its output is
# added to the residual stream, so every line keeps the shape $(B, T, d)$. The feed-forward
# module is $\mathrm{FF}(x) = W_2\, \mathrm{Swish}(W_1 \mathrm{LayerNorm}(x))$ with an expansion
# to $e \cdot d$ in between (and dropout), where $\mathrm{Swish}(u) = u\,\sigma(u)$ (`F.silu`).
# The paper's self-attention also uses relative positional encodings; hw4 keeps plain
# `nn.MultiheadAttention` and lets the convolution module supply the sense of order.
#
# ### 4.2 The convolution module
#
# ```
#  (B, T, d) ─ LayerNorm ─ transpose ─► (B, d, T)
#    ─ pointwise Conv1d(d, 2d, 1) ─► (B, 2d, T)      a linear map per frame, to 2d channels
#    ─ GLU over channels          ─► (B, d, T)       a ⊙ σ(b): half the channels gate the other half
#    ─ depthwise Conv1d(d, d, k, groups=d, padding=k//2) ─► (B, d, T)   k frames, per channel
#    ─ BatchNorm1d(d) ─ Swish     ─► (B, d, T)
#    ─ pointwise Conv1d(d, d, 1)  ─► (B, d, T)
#    ─ dropout ─ transpose        ─► (B, T, d)        (the block adds it to x)
# ```
#
# The gated linear unit (GLU) splits the $2d$ channels into halves $a$ and $b$ and returns
# $a \odot \sigma(b)$: a learned, per-frame and per-channel gate. It is one call in PyTorch:

# %%
u = torch.randn(2, 2 * 4, 5)                                  # (B, 2d, T) with d = 4
g = F.glu(u, dim=1)                                           # (B, d, T)
print("F.glu:", tuple(u.shape), "->", tuple(g.shape), "| equals a * sigmoid(b):",
      torch.allclose(g, u[:, :4] * torch.sigmoid(u[:, 4:])))

# %% [markdown]
# **Why batch normalisation here, when lecture 4 preferred layer normalisation?** The Conformer
# paper puts batch normalisation (`BatchNorm1d`) right after the depthwise convolution, as
# convolutional networks do:
# for each **channel** it normalises over all the values that channel takes in the batch, all
# $B$ utterances and all $T$ frames, and at test time it uses running averages of those
# statistics. For a convolution's output that is natural: one filter per channel, applied at every
# frame, so each channel gets one scale and one shift. The price is the one lecture 4 named: in
# training mode the statistics mix the utterances of a batch, and **padded frames count** as
# frames. A padded batch shifts the mean and variance of every channel, so an utterance's output
# depends on how much padding its batch-mates carry. Homework 4 avoids this by training on
# fixed-length 128-frame crops (no padding) and predicting in eval mode, where the running
# statistics make every utterance independent of its batch. (A padding-aware alternative is to
# compute the statistics over the real frames only, or to use LayerNorm there.) A check with one
# channel-normalising layer:

# %%
bn = nn.BatchNorm1d(4)                                        # statistics per channel over (B, T)
torch.manual_seed(0)
utt = torch.randn(1, 4, 50)                                   # (B=1, d, T) the utterance we look at
other = torch.randn(1, 4, 30)                                 # a shorter batch-mate


def batch_with_padding(extra):
    """The two utterances zero-padded to 50 + extra frames: (B=2, d, T)."""
    return torch.cat([F.pad(utt, (0, extra)), F.pad(other, (0, 20 + extra))])


bn_change = {}                                                # mode: max change of the utterance's output
for mode in ["train", "eval"]:
    bn.train(mode == "train")
    with torch.no_grad():
        less, more = bn(batch_with_padding(0))[0, :, :50], bn(batch_with_padding(100))[0, :, :50]
    bn_change[mode] = (less - more).abs().max().item()
    print(f"{mode:5} mode: 100 more padded frames in the batch change the utterance's output by up to {bn_change[mode]:.3f}")

# %% [markdown]
# In training mode the utterance's output moves when only the padding of the batch changes; in
# eval mode it does not move at all.
#
# Putting these pieces together into `ConformerFeedForward`, `ConformerConvModule` and
# `ConformerBlock` (with the padding mask passed to the attention, and to the convolution
# module, which zeroes padded frames before its depthwise convolution so that a padded batch
# gives what each utterance alone gives) is Parts 1-3 of homework 4.
# Two details to watch there: `nn.Conv1d` wants $(B, \text{channels}, T)$, so transpose in and
# out; and `padding=k//2` with an odd $k$ keeps the length $T$.
#
# ## 5. Self-attention pooling vs mean pooling
#
# Mean pooling gives every real frame the same weight $1/T$, so silence, pauses and noise
# count as much as the voice. A recording with a long silence at the start has a different
# mean than the same words spoken without it. **Self-attention pooling** (Okabe et al., 2018, "Attentive statistics pooling",
# [arXiv:1803.10963](https://arxiv.org/abs/1803.10963); Safari et al., 2020,
# [arXiv:2008.01077](https://arxiv.org/abs/2008.01077)) learns a score per
# frame and averages with softmax weights:
#
# $$s_t = w^\top h_t + b, \qquad a_t = \frac{\exp s_t}{\sum_{t' \text{ real}} \exp s_{t'}}, \qquad z = \sum_t a_t h_t .$$
#
# As a function of the scores, with padding masked out (weight exactly 0), it is three lines:

# %%
def weighted_pool(x, mask, scores):
    """x (B, T, d), mask (B, T) True = real, scores (B, T) -> pooled (B, d), weights (B, T)."""
    scores = scores.masked_fill(~mask, float("-inf"))        # padding: exp(-inf) = 0
    alpha = torch.softmax(scores, dim=1)                      # (B, T) alpha_t, sums to 1 over time
    return torch.einsum("bt,btd->bd", alpha, x), alpha        # (B, d) z = sum_t alpha_t x_t


z_mean, _ = weighted_pool(mels_b, mask_b, torch.zeros(mask_b.shape))   # equal scores: the masked mean
print("equal scores == masked mean pooling:", torch.allclose(z_mean, model.pooling(mels_b, mask_b), atol=1e-5))

# %% [markdown]
# ### 5.1 A toy: speech plus a growing share of silence
#
# We split each utterance's frames into **speech** and **non-speech** by frame energy (the
# mean of the 40 log energies; threshold halfway between the utterance's 10th and 90th
# percentile), and build toy utterances: 100 speech frames of one utterance plus non-speech
# frames taken from *another* recording (another channel and noise), so that a fraction $f$
# of the frames is not speech. To keep things simple we pool the (standardised) log-mel frames
# themselves, $h_t = x_t$.

# %%
def split_speech(mel):
    """(speech frames, non-speech frames) of one utterance, by frame energy."""
    energy = mel.mean(dim=1)                                  # (T,)
    lo, hi = energy.quantile(0.1), energy.quantile(0.9)
    speech = energy > (lo + hi) / 2
    return mel[speech], mel[~speech]


train_set_full = [full_view[i] for i in range(len(full_view))]
train_mels = [m for m, _ in train_set_full]
train_labels = torch.tensor([y for _, y in train_set_full])
with open(answers_csv) as f:
    answers = {row["Id"]: row["Category"] for row in csv.DictReader(f)}
test_mels = [torch.load(data_dir / u["feature_path"]) for u in testdata["utterances"]]
test_labels = torch.tensor([full_view.speaker2id[answers[u["feature_path"]]] for u in testdata["utterances"]])
frames_all = torch.cat(train_mels)                            # (sum T, 40)
mu, sd = frames_all.mean(0), frames_all.std(0)                # per-band standardisation
train_split = [split_speech((m - mu) / sd) for m in train_mels]
test_split = [split_speech((m - mu) / sd) for m in test_mels]
print(f"{len(train_split)} training / {len(test_split)} test utterances; speech share of frames "
      f"{np.mean([len(s) / (len(s) + len(n)) for s, n in train_split]):.0%}")


def toy_batch(split, fraction, gen, n_speech=100):
    """Padded toy utterances: n_speech speech frames + non-speech frames of another utterance."""
    xs = []
    for i, (speech, _) in enumerate(split):
        start = int(torch.randint(0, max(1, len(speech) - n_speech) + 1, (1,), generator=gen))
        s = speech[start:start + n_speech]                    # (<= 100, 40)
        n_noise = int(round(fraction * len(s) / (1 - fraction)))
        other = (i + 1 + int(torch.randint(0, len(split) - 1, (1,), generator=gen))) % len(split)
        pool = split[other][1]                                # non-speech frames of another recording
        noise = pool[torch.randint(0, len(pool), (n_noise,), generator=gen)]   # (n_noise, 40)
        xs.append(torch.cat([s, noise]))
    lens = torch.tensor([len(x) for x in xs])
    x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True, padding_value=0.0)   # (B, T, 40)
    return x, lengths_to_mask(lens, x.shape[1])               # (B, T, 40), (B, T)

# %% [markdown]
# First a hand-made score: $s_t = \beta\,\bar x_t$ with $\bar x_t$ the frame's mean
# (standardised) log energy and $\beta = 4$, so louder frames dominate the average. How far
# does each pooled vector move away from the pooled vector of the speech alone ($f = 0$) as
# non-speech frames are added?

# %%
fractions = [0.0, 0.2, 0.4, 0.6, 0.8]
drift = {"mean pooling": [], "energy-weighted pooling": []}
for f in fractions:
    x0, m0 = toy_batch(test_split, 0.0, torch.Generator().manual_seed(1))   # speech only
    xf, mf = toy_batch(test_split, f, torch.Generator().manual_seed(1))     # same speech + non-speech
    for name, beta in [("mean pooling", 0.0), ("energy-weighted pooling", 4.0)]:
        z0, _ = weighted_pool(x0, m0, beta * x0.mean(-1))                   # (B, 40)
        zf, _ = weighted_pool(xf, mf, beta * xf.mean(-1))                   # (B, 40)
        drift[name].append((zf - z0).norm(dim=1).mean().item())
print("fraction non-speech:     ", "  ".join(f"{f:5.1f}" for f in fractions))
for name, values in drift.items():
    print(f"{name:24} ", "  ".join(f"{v:5.2f}" for v in values), "(mean distance to the speech-only vector)")

# %% [markdown]
# Mean pooling moves steadily towards the average of the non-speech frames. The
# energy-weighted average moves less far at every fraction (at 80 % non-speech about a third as
# far) and stops growing beyond 40 %: the softmax gives the quiet frames little weight. It still moves, because "quiet" is relative:
# the non-speech frames of a noisy recording can be as loud as the speech of a quiet one.
#
# ### 5.2 Learning the score
#
# A model does not get told which frames are speech. We train two linear speaker classifiers
# on the 8 speakers, on toy utterances with a random non-speech fraction in $[0, 0.8]$: one on
# mean-pooled frames, one with a learned score $s_t = w^\top x_t + b$ (41 extra parameters),
# trained end to end through the softmax. Then we test both on the held-out test utterances at
# each fraction.

# %%
def train_pooling_classifier(learn_score, steps=300, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(N_MELS, requires_grad=True)               # score weights (learned or kept 0)
    b = torch.zeros(1, requires_grad=True)
    head = nn.Linear(N_MELS, C)
    params = list(head.parameters()) + ([w, b] if learn_score else [])
    opt = torch.optim.Adam(params, lr=0.05)
    for _ in range(steps):
        idx = torch.randint(0, len(train_split), (32,), generator=gen)
        frac = 0.8 * float(torch.rand(1, generator=gen))
        x, mask = toy_batch([train_split[i] for i in idx], frac, gen)   # (32, T, 40), (32, T)
        z, _ = weighted_pool(x, mask, x @ w + b)                        # (32, 40)
        loss = F.cross_entropy(head(z), train_labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lambda x, mask: weighted_pool(x, mask, x @ w + b), head


t0 = time.perf_counter()
poolers = {"mean pooling": train_pooling_classifier(False), "learned attention pooling": train_pooling_classifier(True)}
print(f"trained both in {time.perf_counter() - t0:.1f} s")
accuracy = {name: [] for name in poolers}
with torch.no_grad():
    for f in fractions:
        for name, (pool, head) in poolers.items():
            correct = []
            for rep in range(5):                              # 5 draws of the toy test set per fraction
                x, mask = toy_batch(test_split, f, torch.Generator().manual_seed(100 + rep))
                correct.append((head(pool(x, mask)[0]).argmax(1) == test_labels).float().mean().item())
            accuracy[name].append(np.mean(correct))
print(f"test accuracy ({len(test_split)} test utterances x 5 draws; chance {1 / C:.0%})")
print("fraction non-speech:       ", "  ".join(f"{f:5.1f}" for f in fractions))
for name, values in accuracy.items():
    print(f"{name:26} ", "  ".join(f"{v:5.0%}" for v in values))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for name, style in [("mean pooling", "o-"), ("energy-weighted pooling", "s-")]:
    ax1.plot(fractions, drift[name], style, label=name)
ax1.set(xlabel="fraction of non-speech frames", ylabel="distance to speech-only vector", title="Drift of the pooled vector")
ax1.legend()
for name, style in [("mean pooling", "o-"), ("learned attention pooling", "s-")]:
    ax2.plot(fractions, [100 * a for a in accuracy[name]], style, label=name)
ax2.axhline(100 / C, color="gray", ls=":", label="chance")
ax2.set(xlabel="fraction of non-speech frames", ylabel="test accuracy (%)", ylim=(0, 100),
        title="Linear classifier on the pooled vector")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Without non-speech frames the two classifiers are close (both in the 60s; a linear model on
# averaged log-mels is a weak speaker classifier). As the non-speech share grows, mean pooling
# falls towards chance, while attention pooling keeps its accuracy.
#
# Where does the learned score put its weight? On a whole test utterance (not a toy one), the
# weights $a_t$ under the spectrogram:

# %%
pool, _ = poolers["learned attention pooling"]
m = (test_mels[0] - mu) / sd                                  # (T, 40) standardised
with torch.no_grad():
    _, alpha = pool(m[None], torch.ones(1, len(m), dtype=torch.bool))   # (1, T)
energy = m.mean(1)                                            # (T,)
speech = energy > (energy.quantile(0.1) + energy.quantile(0.9)) / 2   # (T,) the same rule as split_speech
r = np.corrcoef(energy.numpy(), np.log(alpha[0].numpy()))[0, 1]
pool_stats = dict(speech_share=speech.float().mean().item(), speech_weight=alpha[0][speech].sum().item(),
                  effective=(1 / alpha[0].square().sum()).item(), frames=len(m), corr=float(r))
print(f"{speech.float().mean():.0%} of the frames are speech and get {alpha[0][speech].sum():.0%} of the weight; "
      f"effective number of frames 1 / sum(alpha^2) = {1 / alpha[0].square().sum():.0f} of {len(m)}")
print(f"correlation between the learned score and frame energy: {r:.2f}")
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
ax1.imshow(test_mels[0].T.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-6, vmax=6)
ax1.set(ylabel="mel band", title="A test utterance and the weights of the learned attention pooling")
ax2.plot(alpha[0].numpy(), color="tab:green", label=r"learned $a_t$")
ax2.axhline(1 / len(m), color="gray", ls="--", label="mean pooling: 1/T")
ax2.set(xlabel="frame", ylabel="weight", xlim=(0, len(m) - 1))
ax2.legend(loc="upper right")
plt.show()

# %% [markdown]
# The learned weights are near zero in the silence at both ends and in the pauses: the pooling
# found the speech by itself, from the speaker labels alone (the speech frames, fewer than half
# of all, get most of the weight). It is also *selective* within the speech: most of the weight
# goes to a few stretches (an effective number of frames below a third of them), the frames this linear classifier finds
# most useful, so the score is related to energy but is not the same thing. (A pooling that
# relies on a handful of frames can be fragile; attentive statistics pooling adds the weighted
# standard deviation, and multi-head pooling uses several scores.) In the homework's model the
# frames are the Conformer's outputs $h_t$ rather than raw log-mels, and the score can use
# everything the encoder has computed (Part 4 of hw4).
#
# ## 6. Softmax vs additive-margin softmax
#
# The head of the sample model is a softmax classifier: logits $\ell_c = w_c^\top z$, trained
# with cross-entropy. It only asks that the correct class score highest. For a speaker
# *embedding* $z$ we want more: utterances of one speaker close together, different speakers
# far apart, with room to spare, so that a new recording of the same person (other words,
# other microphone) still lands on the right side. **Additive-margin softmax** (AM-softmax,
# Wang et al., 2018, [arXiv:1801.05599](https://arxiv.org/abs/1801.05599)) classifies by the **angle** and demands a margin $m$:
#
# $$\ell_c = s\,(\cos\theta_c - m\,[c = y]), \qquad \cos\theta_c = \frac{w_c^\top z}{\lVert w_c \rVert\, \lVert z \rVert}.$$
#
# In training the true class $y$ only wins clearly if $\cos\theta_y - m$ beats every other
# $\cos\theta_c$; at prediction time (no label) the logits are $s \cos\theta_c$. The scale $s$
# makes the softmax sharp enough (cosines lie in $[-1, 1]$).
#
# To *see* the geometry we squeeze each utterance into a **2-D** embedding. A 2-D plane has
# room for only a few well-separated directions, so we take 6 speakers and, to keep the picture
# readable, render them through a clean channel (no equaliser, band limit or reverberation,
# little noise). The input of the embedding network is the mean and standard deviation of the
# log-mel frames of a 128-frame crop (80 numbers, standardised); the network is
# $80 \to 64 \to 2$ with a tanh.

# %%
t0 = time.perf_counter()
clean = SynthesisConfig(max_duration=3.0, eq_db=0.0, lowpass_prob=0.0, reverb_prob=0.0, snr_db=(25.0, 35.0), gain_db=0.0)
C2, PER_SPEAKER, N_TEST = 6, 24, 6                            # 18 training + 6 test utterances per speaker
utts = [(log_mel_spectrogram(synthesize_utterance(draw_speaker(SEED, s, clean), _rng(SEED, 1, s, u), clean)), s)
        for s in range(C2) for u in range(PER_SPEAKER)]
is_test = [u >= PER_SPEAKER - N_TEST for s in range(C2) for u in range(PER_SPEAKER)]
print(f"{len(utts)} clean utterances of {C2} speakers rendered in {time.perf_counter() - t0:.1f} s")


def crop_stats(mel):
    return torch.cat([mel.mean(0), mel.std(0)])               # (80,) mean and std over time


gen = torch.Generator().manual_seed(0)
X_train, y_train = [], []
for (mel, s), test in zip(utts, is_test):
    if not test:
        for _ in range(16):                                   # 16 random 128-frame crops per utterance
            start = int(torch.randint(0, len(mel) - 128 + 1, (1,), generator=gen))
            X_train.append(crop_stats(mel[start:start + 128]))
            y_train.append(s)
X_train, y_train = torch.stack(X_train), torch.tensor(y_train)                 # (N, 80), (N,)
X_test = torch.stack([crop_stats(mel) for (mel, _), test in zip(utts, is_test) if test])   # whole utterances
y_test = torch.tensor([s for (_, s), test in zip(utts, is_test) if test])
stat_mu, stat_sd = X_train.mean(0), X_train.std(0)
X_train, X_test = (X_train - stat_mu) / stat_sd, (X_test - stat_mu) / stat_sd
print(f"training crops {tuple(X_train.shape)}, test utterances {tuple(X_test.shape)}")

# %% [markdown]
# Both models have the same embedding network and a weight matrix $W$ of shape $(C, 2)$ (no
# bias, so that both classify by direction). The AM-softmax logits, functionally:

# %%
S, M = 10.0, 0.2                                              # scale and margin for the 2-D toy


def softmax_logits(z, W, labels=None):
    return z @ W.T                                            # (B, C) w_c . z


def am_logits(z, W, labels=None, s=S, m=M):
    cos = F.normalize(z, dim=1) @ F.normalize(W, dim=1).T    # (B, C) cos(theta_c)
    if labels is None:
        return s * cos                                        # prediction: no margin
    return s * (cos - m * F.one_hot(labels, W.shape[0]))     # (B, C) training: margin on the true class


def train_embedding(logit_fn, steps=800, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(80, 64), nn.Tanh(), nn.Linear(64, 2))
    W = nn.Parameter(torch.randn(C2, 2))                      # (C, 2) class directions
    opt = torch.optim.AdamW(list(net.parameters()) + [W], lr=3e-3, weight_decay=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(X_train), (64,), generator=gen)
        loss = F.cross_entropy(logit_fn(net(X_train[idx]), W, y_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, W.detach()


embedders = {}
for name, fn in [("softmax", softmax_logits), ("AM-softmax", am_logits)]:
    t0 = time.perf_counter()
    embedders[name] = train_embedding(fn)
    print(f"{name:10} trained in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# In 2-D the margin has a simple geometric meaning. With cosines alone, the decision boundary
# between neighbouring classes $i$ and $j$ is the bisector of $w_i$ and $w_j$. For a point at
# angle $\psi$ from that boundary, on $i$'s side, with the two directions $\Delta$ apart,
# $\cos\theta_i - \cos\theta_j = \cos(\Delta/2 - \psi) - \cos(\Delta/2 + \psi) = 2\sin(\Delta/2)\sin\psi$.
# The margin asks for $\cos\theta_y - m > \cos\theta_c$, so a training point must keep
# $\psi > \arcsin\big(m / (2\sin(\Delta/2))\big)$ away from the boundary: a no-man's-land on
# both sides of every boundary. For 6 evenly spaced classes ($\Delta = 60°$) and $m = 0.2$:

# %%
delta = math.radians(60)
half_gap = math.asin(M / (2 * math.sin(delta / 2)))          # 2 sin(delta/2) sin(psi) = m
print(f"margin zone: +-{math.degrees(half_gap):.1f} degrees around each boundary, so each class keeps "
      f"{math.degrees(delta) - 2 * math.degrees(half_gap):.1f} of its {math.degrees(delta):.0f} degrees")

# %% [markdown]
# Now the learned embeddings, normalised to the unit circle (training crops inside, test
# utterances as crosses outside), with the class directions $w_c / \lVert w_c \rVert$ as arrows,
# the decision regions as a coloured ring, and for AM-softmax the margin zones in dark grey.
# The left column shows the raw embeddings $z$ before normalisation.

# %%
def angular_report(net, W, logit_fn, X, y):
    with torch.no_grad():
        z = net(X)                                            # (N, 2)
        pred = logit_fn(z, W).argmax(1)                       # (N,) prediction: no margin
        cos = F.normalize(z, dim=1) @ F.normalize(W, dim=1).T     # (N, C)
        own = cos.gather(1, y[:, None])[:, 0]                 # (N,) cos to the true class
        other = cos.masked_fill(F.one_hot(y, W.shape[0]).bool(), -2.0).amax(1)   # (N,) best wrong class
    return dict(acc=(pred == y).float().mean().item(), z=z,
                angle=torch.rad2deg(torch.acos(own.clamp(-1, 1))).median().item(),
                beyond_margin=(own - other >= M).float().mean().item())


def runs(values):
    """(start, end, value) for each run of equal neighbours in a list."""
    out, start = [], 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[start]:
            out.append((start, k - 1 if k == len(values) else k, values[start]))
            start = k
    return out


colours = plt.cm.tab10(np.arange(C2))
phi = torch.linspace(-math.pi, math.pi, 1441)
ring = torch.stack([phi.cos(), phi.sin()], 1)                # (K, 2) unit vectors around the circle
fig, axes = plt.subplots(2, 2, figsize=(12, 12))
for row, (name, fn) in enumerate([("softmax", softmax_logits), ("AM-softmax", am_logits)]):
    net, W = embedders[name]
    tr, te = angular_report(net, W, fn, X_train, y_train), angular_report(net, W, fn, X_test, y_test)
    ax = axes[row, 0]                                         # raw 2-D embeddings
    for c in range(C2):
        ax.scatter(*tr["z"][y_train == c].T.numpy(), s=4, color=colours[c], alpha=0.4)
        ax.scatter(*te["z"][y_test == c].T.numpy(), s=40, marker="x", color=colours[c])
    ax.set(title=f"{name}: raw 2-D embeddings z", xlabel="$z_1$", ylabel="$z_2$")
    ax.set_aspect("equal", "datalim")
    ax = axes[row, 1]                                         # on the unit circle
    with torch.no_grad():
        cos_ring = F.normalize(W, dim=1) @ ring.T             # (C, K)
        region = fn(ring, W).argmax(1)                        # (K,) predicted class at each angle
        top2 = cos_ring.topk(2, dim=0).values                 # (2, K)
    in_margin = (top2[0] - top2[1] < M) & (name == "AM-softmax")    # (K,) AM's no-man's-land
    deg = torch.rad2deg(phi).numpy()
    for k0, k1, c in runs(region.tolist()):                   # one wedge per run of the same class
        ax.add_patch(Wedge((0, 0), 1.38, deg[k0], deg[k1], width=0.12, color=colours[c], alpha=0.5))
    for k0, k1, inside in runs(in_margin.tolist()):
        if inside:
            ax.add_patch(Wedge((0, 0), 1.38, deg[k0], deg[k1], width=0.12, color="0.3"))
    rng_plot = np.random.default_rng(0)
    for c in range(C2):
        u = F.normalize(tr["z"][y_train == c], dim=1).numpy()
        radius = rng_plot.uniform(0.8, 1.0, (len(u), 1))      # radial jitter, to see the density
        ax.scatter(*(u * radius).T, s=3, color=colours[c], alpha=0.3)
        ut = F.normalize(te["z"][y_test == c], dim=1).numpy()
        ax.scatter(*(ut * 1.15).T, s=40, marker="x", color=colours[c])
        wc = F.normalize(W[c], dim=0).numpy()
        ax.annotate("", xy=wc * 0.7, xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=colours[c], lw=2))
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), title=f"{name}: directions z/|z| (crosses: test), class regions (ring)")
    ax.set_aspect("equal")
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to look for:
#
# * **Softmax** (top). The loss can also be lowered by making $\lVert z \rVert$ larger in the
#   right direction, so the raw clusters sit at different distances from the origin and are not
#   pulled together in angle: on the circle they are wider, and the boundaries (whose positions
#   also depend on the norms $\lVert w_c \rVert$) fall wherever they separate the training data.
# * **AM-softmax** (bottom). The loss sees only angles: the raw clusters are free to stretch
#   along the radius (that costs nothing), but on the circle each speaker's training crops pull
#   together around its direction, clear of the grey margin zones.
#
# Is seed 0 typical? The same two trainings with three more seeds:

# %%
print(f"{'seed':>4} {'':11} {'train acc':>9} {'test acc':>9} {'median angle train / test':>26} {'test beyond m':>14}")
table = {name: [] for name in embedders}
for seed in range(4):
    for name, fn in [("softmax", softmax_logits), ("AM-softmax", am_logits)]:
        net, W = embedders[name] if seed == 0 else train_embedding(fn, seed=seed)
        tr, te = angular_report(net, W, fn, X_train, y_train), angular_report(net, W, fn, X_test, y_test)
        table[name].append((tr["acc"], te["acc"], tr["angle"], te["angle"], te["beyond_margin"]))
        print(f"{seed:4d} {name:11} {tr['acc']:9.1%} {te['acc']:9.1%} {tr['angle']:14.1f} / {te['angle']:4.1f} deg "
              f"{te['beyond_margin']:13.0%}")
for name, rows in table.items():
    a = np.mean(rows, axis=0)
    print(f"mean {name:11} {a[0]:9.1%} {a[1]:9.1%} {a[2]:14.1f} / {a[3]:4.1f} deg {a[4]:13.0%}")

# %% [markdown]
# With every seed the AM-softmax embeddings of the training crops, where the loss acts, are
# tighter in angle: a median of about 5° from their class direction against about 14°, averaged
# over the seeds. On the test utterances the gain is smaller and not there with every seed:
# averaged over the seeds about 19° against 28°, and about half of the test utterances clear the
# margin against about 40 % with softmax, but with seed 0 the median test angles are equal and
# softmax puts more test utterances past the margin. **Test accuracy does not follow**: averaged
# over the seeds it is about the same for both heads, and which one wins changes with the seed.
# With 36 test utterances one utterance is 2.8 points, and new utterances (whole ones, while
# training saw crops, with other words and noise) scatter two to four times more widely in angle
# than the training crops, so a tighter training cluster does not by itself put more of them on
# the right side. This toy shows the geometry,
# not which head is more accurate. The gains reported for AM-softmax are on real speaker and
# face data with many classes and high-dimensional embeddings, and mostly in *verification*
# (comparing embeddings of people never seen in training), where compact, well-separated
# clusters are what counts. In hw4 the margin head is what takes the Strong model (a Conformer with
# self-attention pooling) to Boss; the homework's ladder measures what each part adds there.
#
# The homework's defaults are $s = 30$, $m = 0.35$ (the values of the AM-softmax paper) for an
# 80-dimensional embedding. In 2-D with 6 evenly spaced classes, $m = 0.35$ would make the
# margin zones $\pm\arcsin(0.35) = \pm 20.5°$ wide and leave each class only 19° of its 60°,
# so the toy uses $m = 0.2$.

# %%
tmp.cleanup()                                                 # remove the temporary dataset
print(f"lecture ran in {time.perf_counter() - LECTURE_START:.0f} s")

# %% [markdown]
# ## Summary
#
# * Speech enters the model as a **sequence of log-mel frames**: 25 ms windows every 10 ms
#   (100 frames/s), 40 mel bands, natural log with a floor at $\ln 10^{-5}$. An utterance is a
#   $(T, 40)$ matrix, $T$ in the hundreds.
# * hw4's data: `mapping.json`, `metadata.json` (labelled utterances), `testdata.json`
#   (unlabelled), one `uttr-*.pt` tensor per utterance. Training uses random 128-frame crops;
#   validation and prediction use whole utterances padded with -20 and a mask (True = real).
# * The **sample model** (Linear prenet, one Transformer encoder layer, mean pooling, softmax)
#   treats an utterance as a **bag of frames**: shuffling the frames leaves its output
#   unchanged.
# * **Attention is global, convolution is local.** The Conformer block is
#   $x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$; $x \mathrel{+}= \mathrm{MHSA}(\mathrm{LN}(x))$;
#   $x \mathrel{+}= \mathrm{Conv}(x)$; $x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$; $y = \mathrm{LN}(x)$,
#   with the convolution module pointwise conv, GLU, depthwise conv ($k$ frames), BatchNorm,
#   Swish, pointwise conv.
# * **Self-attention pooling** $z = \sum_t \mathrm{softmax}_t(w^\top h_t + b)\, h_t$ learns to
#   ignore silence and noise; mean pooling drifts towards them as their share grows.
# * **AM-softmax** $\ell_c = s(\cos\theta_c - m[c = y])$ classifies by angle and asks for a
#   margin: tighter angular clusters of each speaker, most visible on the training data; the
#   toy's test accuracy does not separate the two heads.
#
# ## Exercises
#
# Each exercise has a hint and a worked answer; click to open them, after you have tried.
#
# 1. **Frames.** Compute the log-mel features of one utterance with a 50 ms window (800
#    samples) and the same hop, using `torch.stft` or the code in `coursekit.speakers`. What
#    happens to the formant ridges and to the pitch harmonics in the lowest bands?
#
# <details><summary>Hint</summary>
#
# `torch.stft(wave, n_fft=1024, hop_length=160, win_length=800, window=torch.hann_window(800),
# return_complex=True).abs() ** 2` gives the power spectrum; apply the same 40 mel filters (build
# them for 513 bins) and the log with the floor.
# </details>
#
# <details><summary>Answer</summary>
#
# A longer window gives finer **frequency** resolution and coarser **time** resolution: the
# harmonics of the voice (spaced by F0) are resolved better, so the stripes in the lowest bands
# become clearer, also for the low voice; but fast changes are smeared over 50 ms, so formant
# transitions and short consonants blur along time. The number of frames barely changes
# ($T = 1 + \lfloor (n - 800)/160 \rfloor$, 2-3 frames fewer): it is set by the hop, not the window.
# </details>
#
# 2. **Order.** Show that a depthwise convolution followed by mean pooling is *not* invariant to
#    shuffling the frames, but is invariant to a circular shift when the padding is circular.
#    What does that say about what the Conformer's convolution can add to the sample model?
#
# <details><summary>Hint</summary>
#
# `nn.Conv1d(d, d, 15, padding=7, groups=d, padding_mode="circular")`; compare
# `conv(x).mean(-1)` for `x`, `x[..., perm]` and `torch.roll(x, 5, dims=-1)`, with and without a
# `F.silu` between the convolution and the mean.
# </details>
#
# <details><summary>Answer</summary>
#
# A *linear* filter followed by a mean is almost blind to order:
# $\frac1T\sum_t \sum_j w_j x_{t+j} = \sum_j w_j\, \frac1T\sum_t x_{t+j}$. With circular padding
# every shifted mean equals the plain mean, so the pooled vector is unchanged by a shift *and* by a
# shuffle; with zero padding (the default) a shuffle changes it only through the few frames at the
# edges, so it is not invariant, but barely. Order really matters once a nonlinearity sits between
# the filter and the mean (`F.silu(conv(x)).mean(-1)`; in the Conformer: GLU, Swish, the layers
# after): the mean of a nonlinear function of each neighbourhood depends on which frames are
# neighbours. A circular shift keeps every neighbourhood, so the pooled vector stays the same; a
# shuffle does not. So the convolution lets the model use *local order* (what follows what within
# 15 frames) while staying insensitive to *where* in the utterance it happens, which the
# bag-of-frames sample model cannot do.
# </details>
#
# 3. **Receptive field.** Repeat the dependence plot of section 4 for two stacked depthwise
#    convolutions with $k = 15$, and for a depthwise convolution followed by an attention layer.
#
# <details><summary>Hint</summary>
#
# `dependence(lambda x: depthwise(depthwise(x.T[None]))[0].T, x_demo)`; for the second, feed the
# convolution's output to `attn_layer`.
# </details>
#
# <details><summary>Answer</summary>
#
# Two stacked $k = 15$ convolutions: the band widens to $|t - s| \le 14$ (29 frames); each
# convolution adds $k - 1$ frames of context. Convolution then attention: the output depends on
# every frame again (attention is global), but the dependence of frame $t$ is now on
# *filtered* neighbourhoods, strongest on the band around the diagonal inherited from the
# convolution and from the residual path.
# </details>
#
# 4. **Pooling.** In section 5.2 replace the linear score by the frame energy times a learned
#    scalar $\beta$. How much of the learned pooling's advantage does this one-parameter score
#    recover? Then add standard deviation pooling ($\sqrt{\sum_t a_t h_t^2 - z^2}$,
#    "attentive statistics pooling") and compare.
#
# <details><summary>Hint</summary>
#
# In `train_pooling_classifier`, use `scores = beta * x.mean(-1)` with `beta` a learned
# one-element tensor. For statistics pooling, concatenate $z$ and the standard deviation (80
# numbers) and give the head 80 inputs.
# </details>
#
# <details><summary>Answer</summary>
#
# The energy score recovers much of the robustness to non-speech frames: it is the hand-made
# score of section 5.1 with a learned $\beta$, and section 5.1 showed that it keeps the pooled
# vector near the speech-only vector. It cannot be selective *within* the speech (the learned
# score correlates with energy only partly, section 5.2), so expect it between mean pooling and
# the learned score. The weighted standard deviation adds information about how the voice
# varies (pitch and formant movement), which a mean cannot carry; on this data it typically
# raises the accuracy of the linear classifier further.
# </details>
#
# 5. **Margin.** Train the 2-D AM-softmax model of section 6 with $m \in \{0, 0.1, 0.2, 0.3\}$
#    and three seeds each. Plot the median training angle and the test accuracy against $m$.
#    What happens with 8 or 10 speakers in 2-D?
#
# <details><summary>Hint</summary>
#
# `train_embedding(lambda z, W, labels=None: am_logits(z, W, labels, m=margin), seed=seed)`, and
# `angular_report` for the angles and accuracies.
# </details>
#
# <details><summary>Answer</summary>
#
# The median training angle shrinks as $m$ grows (the margin pulls each class towards its
# direction); the test accuracy varies with the seed at least as much as with $m$, as in section 6.
# With $C$ evenly spaced classes in 2-D the classes are $\Delta = 360°/C$ apart and the margin
# zone is $\pm\arcsin\big(m / (2\sin(\Delta/2))\big)$: for 10 classes ($\Delta = 36°$) and
# $m = 0.3$ that is $\pm 29°$ around each boundary, wider than the $\pm 18°$ half-sector of a class:
# no point can satisfy the margin, and training pushes against an impossible target.
# A margin only makes sense when the embedding has room, which is why real systems use 128 or
# more dimensions.
# </details>
#
# 6. **Homework 4.** Implement `ConformerFeedForward`, `ConformerConvModule`, `ConformerBlock`,
#    `SelfAttentionPooling` and `AMSoftmax` in `hw4_speaker_id.ipynb`, then train the ladder of
#    models on the full dataset and see what each part buys.
#
# <details><summary>Hint</summary>
#
# Sections 4.1, 4.2, 5 and 6 give the equations; the notebook's checks compare each module with
# them one at a time, so fix the first failing check first.
# </details>
#
# <details><summary>Answer</summary>
#
# The homework's own solution notebook is the worked answer. What each part buys is measured in
# the README's ladder (means over several runs): the sample model 60.1 %, a tuned Transformer 68.8 %,
# the Conformer 73.3 %, with self-attention pooling 76.4 %, and with self-attention pooling and
# AM-softmax 86.1 % test accuracy.
# </details>

# %% [markdown]
# ## 摘要
#
# **繁體中文**
#
# * 語音以**對數梅爾頻譜（log-mel）的音框序列**輸入模型：每 10 ms 取一個 25 ms 的窗（每秒 100 個音框），
#   40 個梅爾頻帶，取自然對數並以 $\ln 10^{-5}$ 為下限。一段語句就是一個 $(T, 40)$ 的矩陣，$T$ 約為數百。
# * 作業 4 的資料：`mapping.json`、`metadata.json`（有標籤的語句）、`testdata.json`（無標籤），每段語句一個
#   `uttr-*.pt` 張量。訓練時隨機裁切 128 個音框；驗證與預測時用完整語句，以 -20 填充並附上遮罩（True = 真實音框）。
# * **範例模型**（線性 prenet、一層 Transformer 編碼器、平均池化、Softmax）把語句當成**一袋音框**：打亂音框順序，
#   輸出不變。
# * **自注意力是全域的，卷積是局部的。** Conformer 的 block 為
#   $x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$；$x \mathrel{+}= \mathrm{MHSA}(\mathrm{LN}(x))$；
#   $x \mathrel{+}= \mathrm{Conv}(x)$；$x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$；$y = \mathrm{LN}(x)$；
#   卷積模組為逐點卷積、GLU、深度卷積（$k$ 個音框）、批次標準化（Batch Norm）、Swish、逐點卷積。
#   批次標準化在訓練時會把同一批次的語句（包括填充的音框）混在一起計算統計量，所以作業用固定長度的裁切訓練。
# * **自注意力池化（Self-attention Pooling）** $z = \sum_t \mathrm{softmax}_t(w^\top h_t + b)\, h_t$ 學會忽略靜音與雜訊；
#   平均池化則隨著非語音比例增加而被拉向它們。
# * **加性間隔 Softmax（AM-Softmax）** $\ell_c = s(\cos\theta_c - m[c = y])$ 依角度分類並要求一個間隔（margin）：
#   每位語者的角度更集中，在訓練資料上最明顯；這個玩具例子的測試準確率分不出兩者的高下。
#
# **简体中文**
#
# * 语音以**对数梅尔频谱（log-mel）的帧序列**输入模型：每 10 ms 取一个 25 ms 的窗（每秒 100 帧），
#   40 个梅尔频带，取自然对数并以 $\ln 10^{-5}$ 为下限。一段语句就是一个 $(T, 40)$ 的矩阵，$T$ 约为数百。
# * 作业 4 的数据：`mapping.json`、`metadata.json`（有标签的语句）、`testdata.json`（无标签），每段语句一个
#   `uttr-*.pt` 张量。训练时随机裁剪 128 帧；验证与预测时用完整语句，以 -20 填充并附上掩码（True = 真实帧）。
# * **示例模型**（线性 prenet、一层 Transformer 编码器、平均池化、Softmax）把语句当成**一袋帧**：打乱帧的顺序，
#   输出不变。
# * **自注意力是全局的，卷积是局部的。** Conformer 的 block 为
#   $x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$；$x \mathrel{+}= \mathrm{MHSA}(\mathrm{LN}(x))$；
#   $x \mathrel{+}= \mathrm{Conv}(x)$；$x \mathrel{+}= \tfrac12 \mathrm{FF}(x)$；$y = \mathrm{LN}(x)$；
#   卷积模块为逐点卷积、GLU、深度卷积（$k$ 帧）、批次标准化（Batch Norm）、Swish、逐点卷积。
#   批次标准化在训练时会把同一批次的语句（包括填充的帧）混在一起计算统计量，所以作业用固定长度的裁剪训练。
# * **自注意力池化（Self-attention Pooling）** $z = \sum_t \mathrm{softmax}_t(w^\top h_t + b)\, h_t$ 学会忽略静音与噪声；
#   平均池化则随着非语音比例增加而被拉向它们。
# * **加性间隔 Softmax（AM-Softmax）** $\ell_c = s(\cos\theta_c - m[c = y])$ 按角度分类并要求一个间隔（margin）：
#   每位说话人的角度更集中，在训练数据上最明显；这个玩具例子的测试准确率分不出两者的高下。
