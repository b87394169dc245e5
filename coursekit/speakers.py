"""A synthetic speaker-identification dataset in the format of NTU ML2022 HW4.

Why synthetic: the kit runs offline and may not redistribute VoxCeleb, but hw4 needs a task
on which the model ladder shows (a plain Transformer encoder well below a Conformer with
self-attention pooling and AM-softmax). So this module *renders speech*: voices that differ in
the ways real speakers do, spoken through random channels and noise, then turned into the
course's features by the real pipeline:

    waveform (16 kHz) -> 25 ms Hann frames every 10 ms -> |FFT|^2 (512 points) -> 40 mel bands
    (HTK mel formula, triangles over 0-8000 Hz) -> natural log of max(energy, 1e-5)

The voice model is a classic source-filter synthesiser (Klatt-style cascade):

* **source**: a Rosenberg glottal pulse train (flow derivative, so lip radiation is included)
  at a time-varying F0 with jitter and shimmer, plus aspiration noise gated by the glottal
  cycle (breathiness), plus frication noise for consonants;
* **filter**: a cascade of second-order resonators (F1-F5, Klatt-normalised to unit gain at
  0 Hz) plus a nasal pole/zero pair, re-computed every 16 ms and applied in the frequency
  domain by windowed overlap-add (50 %-overlap Hann frames, 1024-point FFTs; a Python loop over
  samples would be far too slow, and scipy is not a dependency); one broad resonance shapes
  the fricative noise; a speaker-specific spectral tilt on top;
* **speakers** differ in F0 level, range, declination and jitter, in vocal-tract length
  (all formants scaled), fixed F4/F5 positions, formant bandwidths, tilt, open quotient,
  breathiness, speaking rate, creaky phrase endings and a personal set of vowel targets
  ("accent"); parameters come from two overlapping populations (low and high voices) so
  neighbouring speakers are genuinely confusable;
* **utterances** are random syllable strings over a small phone inventory (10 vowels,
  approximants, nasals, fricatives, stops, pauses) with coarticulated formant transitions,
  pitch accents and a final fall or rise; each utterance varies the speaker a little (pitch,
  rate, vocal effort) and goes through a random channel: gain, high-/low-pass, a random
  equaliser, sometimes reverberation, and additive noise (white, pink, brown, hum or babble)
  at a random SNR.

Everything is deterministic in ``seed``: each speaker and each utterance draws from its own
``numpy.random.Generator`` seeded by ``(seed, speaker, utterance)``, so the output does not
depend on worker count or order, and the same seed gives byte-identical files (with the same
numpy and torch builds: their FFTs may round differently across versions).

Difficulty of the default dataset (100 speakers, 24 train/valid + 6 test utterances each,
1.5-5 s; seed 0), measured on the 600 test utterances, chance 1 %:

* nearest centroid on mean-pooled log mels: 2.5 %; on the mean of each utterance's loudest
  half of frames, level-normalised: 11 %; softmax regression on mean + std: 59 %;
* the hw4 ladder (``benchmarks/speaker_ladder.py``: 2500 steps, batch 32, 128-frame crops,
  CPU): the HW4 sample model (1-layer Transformer encoder, d=80, mean pooling) 58.5 %; a tuned
  2-layer Transformer 69.2 %; a 2-block Conformer (d=80) 74.7 %; the same Conformer with
  self-attention pooling and AM-softmax 85.7 %.

Pooling over silence and noise, and a per-utterance channel, are what make global statistics
weak; a model has to find the voice in the frames.

Layout written by :func:`generate_dataset` (the original course data loads unchanged with
:mod:`coursekit.speaker_data`)::

    out_dir/mapping.json    {"speaker2id": {name: id}, "id2speaker": {"id": name}}
    out_dir/metadata.json   {"n_mels": 40, "speakers": {name: [{"feature_path", "mel_len"}]}}
    out_dir/testdata.json   {"n_mels": 40, "utterances": [{"feature_path", "mel_len"}]}
    out_dir/uttr-<32 hex>.pt  float32 tensor (mel_len, 40)
    answers CSV (outside out_dir): Id,Category = test feature_path, true speaker name
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

# --------------------------------------------------------------------------------------------
# Feature pipeline (the course's features)
# --------------------------------------------------------------------------------------------
SAMPLE_RATE = 16000
WIN_LENGTH = 400            # 25 ms
HOP_LENGTH = 160            # 10 ms
N_FFT = 512                 # each 400-sample frame is zero-padded to 512 points
N_MELS = 40
LOG_FLOOR = 1e-5            # energies are floored here before the log: features >= ln(1e-5) = -11.51
PAD_VALUE = -20.0           # the course pads batches with -20, below any real feature value

_FILTERBANK_CACHE: dict[tuple, torch.Tensor] = {}


@contextmanager
def _single_thread():
    """Float results of torch ops may depend on the thread count; pin it while rendering."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def hz_to_mel(f):
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``, float64, peak value 1.

    Band edges are equally spaced on the HTK mel scale between ``f_min`` and ``f_max``
    (default: Nyquist); each triangle is linear in Hz between its neighbours' centres and is
    not area-normalised (HTK/Kaldi convention, ``librosa.filters.mel(htk=True, norm=None)``).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    key = (n_mels, n_fft, sample_rate, f_min, f_max)
    if key not in _FILTERBANK_CACHE:
        edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
        bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        fb = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
        _FILTERBANK_CACHE[key] = torch.from_numpy(fb)
    return _FILTERBANK_CACHE[key]


def num_frames(n_samples: int) -> int:
    """Frames the features have for ``n_samples`` of audio: ``1 + (n - 400) // 160``.

    Frames are not centred (no padding at the ends), so 1 s of audio gives 98 frames.
    """
    return 0 if n_samples < WIN_LENGTH else 1 + (n_samples - WIN_LENGTH) // HOP_LENGTH


def log_mel_spectrogram(waveform, floor: float = LOG_FLOOR) -> torch.Tensor:
    """The course's features for a 16 kHz mono waveform: float32 ``(T, 40)`` natural-log mel energies.

    Frame ``t`` covers samples ``[160 t, 160 t + 400)``, multiplied by a symmetric Hann window
    and zero-padded to 512 points (as Kaldi and HTK do); the power spectrum ``|X|^2`` goes
    through :func:`mel_filterbank` and ``log(max(energy, floor))``. Computed in float64 and
    rounded once to float32. The waveform's scale is kept (no normalisation): a signal ``k``
    times louder shifts every feature by ``2 ln k``.
    """
    x = torch.as_tensor(np.asarray(waveform, dtype=np.float64)).reshape(-1)
    if x.numel() < WIN_LENGTH:
        raise ValueError(f"need at least {WIN_LENGTH} samples (one 25 ms frame), got {x.numel()}")
    with _single_thread():                  # same bits whatever the caller's thread count
        frames = x.unfold(0, WIN_LENGTH, HOP_LENGTH) * torch.hann_window(
            WIN_LENGTH, periodic=False, dtype=torch.float64)
        power = torch.fft.rfft(frames, n=N_FFT).abs().square()          # (T, 257)
        mel = power @ mel_filterbank().T                                # (T, 40)
        return torch.log(mel.clamp_min(floor)).to(torch.float32).contiguous()


# --------------------------------------------------------------------------------------------
# Phone inventory
# --------------------------------------------------------------------------------------------
# Vowel targets F1-F3 (Hz) of an adult male voice, Peterson & Barney (1952) averages.
VOWELS: dict[str, tuple[float, float, float]] = {
    "iy": (270, 2290, 3010), "ih": (390, 1990, 2550), "eh": (530, 1840, 2480),
    "ae": (660, 1720, 2410), "aa": (730, 1090, 2440), "ao": (570, 840, 2410),
    "uh": (440, 1020, 2240), "uw": (300, 870, 2240), "ah": (640, 1190, 2390),
    "er": (490, 1350, 1690),
}
VOWEL_NAMES = list(VOWELS)


@dataclass(frozen=True)
class Consonant:
    """A consonant: what drives the source and filter while it lasts.

    ``formants`` None means "interpolate through from the neighbouring vowels" (the tract
    keeps moving during an obstruent). Amplitudes are linear, relative to a vowel's voicing 1.
    """
    kind: str                       # approximant | nasal | fricative | stop | h
    formants: tuple | None = None   # F1-F3 targets (male reference, scaled by the speaker)
    voicing: float = 0.0
    frication: float = 0.0
    fric_freq: float = 0.0          # centre of the fricative / burst noise (Hz, reference)
    fric_bw: float = 0.0
    nasal_zero: float = 0.0         # antiresonance of a nasal (Hz, reference)
    duration: float = 0.07          # seconds at speaking rate 1


CONSONANTS: dict[str, Consonant] = {
    "l": Consonant("approximant", (360, 1300, 2700), voicing=0.5, duration=0.06),
    "r": Consonant("approximant", (420, 1300, 1600), voicing=0.5, duration=0.06),
    "w": Consonant("approximant", (300, 610, 2200), voicing=0.5, duration=0.055),
    "y": Consonant("approximant", (260, 2070, 3020), voicing=0.5, duration=0.055),
    "m": Consonant("nasal", (250, 1100, 2300), voicing=0.35, nasal_zero=800, duration=0.065),
    "n": Consonant("nasal", (250, 1700, 2600), voicing=0.35, nasal_zero=1500, duration=0.06),
    "s": Consonant("fricative", frication=0.45, fric_freq=5200, fric_bw=1400, duration=0.095),
    "sh": Consonant("fricative", frication=0.45, fric_freq=2900, fric_bw=900, duration=0.095),
    "f": Consonant("fricative", frication=0.12, fric_freq=6000, fric_bw=5000, duration=0.085),
    "th": Consonant("fricative", frication=0.10, fric_freq=6500, fric_bw=4000, duration=0.08),
    "z": Consonant("fricative", voicing=0.25, frication=0.3, fric_freq=5200, fric_bw=1400,
                   duration=0.075),
    "v": Consonant("fricative", voicing=0.3, frication=0.08, fric_freq=6000, fric_bw=5000,
                   duration=0.065),
    "h": Consonant("h", frication=0.0, duration=0.06),
    "p": Consonant("stop", frication=0.5, fric_freq=1200, fric_bw=3000, duration=0.07),
    "t": Consonant("stop", frication=0.7, fric_freq=4500, fric_bw=2500, duration=0.065),
    "k": Consonant("stop", frication=0.6, fric_freq=2400, fric_bw=1200, duration=0.075),
    "b": Consonant("stop", voicing=0.08, frication=0.3, fric_freq=1200, fric_bw=3000,
                   duration=0.06),
    "d": Consonant("stop", voicing=0.08, frication=0.4, fric_freq=4000, fric_bw=2500,
                   duration=0.055),
    "g": Consonant("stop", voicing=0.08, frication=0.4, fric_freq=2400, fric_bw=1200,
                   duration=0.06),
}
CONSONANT_NAMES = list(CONSONANTS)
_REF_BANDWIDTHS = np.array([60.0, 90.0, 130.0, 220.0, 300.0])   # B1-B5 (Hz) before scaling

# --------------------------------------------------------------------------------------------
# Speakers and knobs
# --------------------------------------------------------------------------------------------


@dataclass
class Speaker:
    """One synthetic voice: the constants of a speaker (each utterance varies some a little)."""
    name: str
    f0: float                   # median F0 (Hz)
    f0_range: float             # pitch-accent size (semitones)
    declination: float          # F0 fall over an utterance (semitones per second)
    jitter: float               # F0 perturbation per 8 ms frame (relative sd)
    shimmer: float              # amplitude perturbation per 8 ms frame (relative sd)
    vtl: float                  # formant scale: 1 = reference adult male, > 1 = shorter tract
    f4: float                   # fixed F4, F5 (Hz) - speaker-specific, vowel-independent
    f5: float
    bandwidth: float            # formant bandwidth scale
    tilt: float                 # extra spectral tilt above 500 Hz (dB per octave, >= 0)
    open_quotient: float        # fraction of the glottal cycle the glottis is open
    breathiness: float          # aspiration noise / voicing amplitude ratio
    rate: float                 # duration scale of phones (> 1 = slower)
    creak: float                # probability of a creaky (low, irregular) phrase ending
    vowel_shape: np.ndarray = field(repr=False)   # (n_vowels, 3) personal formant multipliers


@dataclass(frozen=True)
class SynthesisConfig:
    """Difficulty knobs (the module docstring has the accuracies the defaults give).

    ``speaker_spread`` scales how far speakers sit from their population's mean (smaller:
    more similar voices, harder); ``within_speaker`` scales how much one speaker varies between
    utterances (pitch, rate, effort); the channel knobs are per utterance and independent of
    the speaker.
    """
    min_duration: float = 1.5       # seconds of audio per utterance, uniform
    max_duration: float = 5.0
    speaker_spread: float = 1.25
    within_speaker: float = 1.0
    snr_db: tuple[float, float] = (10.0, 30.0)    # additive noise, uniform in dB
    gain_db: float = 6.0                          # overall level, uniform +- this
    eq_db: float = 3.0                            # sd of each random equaliser bump
    lowpass_prob: float = 0.4                     # band-limited channel (3.4-7 kHz)
    reverb_prob: float = 0.3
    pause_prob: float = 0.15                      # pause between two words

    def __post_init__(self):
        if not 0.5 <= self.min_duration <= self.max_duration:
            raise ValueError(f"need 0.5 <= min_duration <= max_duration (seconds), got "
                             f"{self.min_duration}, {self.max_duration}")
        if self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db is a (low, high) range, got {self.snr_db}")
        for name in ("lowpass_prob", "reverb_prob", "pause_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)}")


def _rng(seed: int, *path: int) -> np.random.Generator:
    """An independent generator for one item (speaker / utterance) of one seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, *path]))


def speaker_name(index: int) -> str:
    """``id10001``, ``id10002``, ... as in the original VoxCeleb-derived course data."""
    return f"id{10001 + index}"


def draw_speaker(seed: int, index: int, config: SynthesisConfig = SynthesisConfig()) -> Speaker:
    """Speaker ``index`` of ``seed``: a low (male-like) or high (female-like) voice, with every
    parameter drawn around its population's mean; the populations overlap."""
    rng = _rng(seed, 0, index)
    s = config.speaker_spread
    high = rng.random() < 0.5
    z_f0 = rng.standard_normal()
    f0 = (205.0 if high else 118.0) * math.exp(s * 0.16 * z_f0)
    # Shorter tracts go with higher voices, loosely.
    vtl = (1.14 if high else 1.0) * math.exp(s * (0.02 * z_f0 + 0.045 * rng.standard_normal()))
    return Speaker(
        name=speaker_name(index),
        f0=f0,
        f0_range=float(np.clip(3.5 + s * 1.3 * rng.standard_normal(), 1.0, 8.0)),
        declination=float(1.2 + s * 0.6 * rng.uniform(-1, 1)),
        jitter=float(0.01 * math.exp(s * 0.5 * rng.standard_normal())),
        shimmer=float(0.05 * math.exp(s * 0.5 * rng.standard_normal())),
        vtl=vtl,
        f4=3450.0 * vtl * math.exp(s * 0.05 * rng.standard_normal()),
        f5=4450.0 * vtl * math.exp(s * 0.05 * rng.standard_normal()),
        bandwidth=math.exp(s * 0.25 * rng.standard_normal()),
        tilt=float(max(0.0, 4.0 + s * 2.5 * rng.standard_normal())),
        open_quotient=float(np.clip(0.6 + s * 0.1 * rng.standard_normal(), 0.35, 0.85)),
        breathiness=float(0.08 * math.exp(s * 0.7 * rng.standard_normal() + (0.3 if high else 0))),
        rate=math.exp(s * 0.15 * rng.standard_normal()),
        creak=float(np.clip(0.25 + s * 0.25 * rng.standard_normal(), 0.0, 1.0)),
        vowel_shape=np.exp(s * 0.05 * rng.standard_normal((len(VOWELS), 3))),
    )


# --------------------------------------------------------------------------------------------
# Utterance plan: phones -> 8 ms control tracks
# --------------------------------------------------------------------------------------------
_HOP = 128                  # control-track hop: 8 ms (phone timing, amplitudes, F0)
_FHOP = 256                 # filter frame hop: 16 ms (formants move slower than that)
_FRAME = 512                # synthesis window (periodic Hann, 50 % overlap)
_NFFT = 1024                # filtering FFT size: room for the resonators' ringing
_TRACKS = ("F1", "F2", "F3", "av", "ah", "af", "ff", "fb", "nasal", "zero", "stress")


def _plan(rng: np.random.Generator, spk: Speaker, rate: float, vtl: float,
          config: SynthesisConfig) -> dict[str, np.ndarray]:
    """Random syllables until a random duration is filled; returns per-frame target tracks.

    The duration is drawn independently of the speaker, so utterance length says nothing
    about who speaks; a faster speaker just fits more syllables.
    """
    target = rng.uniform(config.min_duration, config.max_duration)
    n_total = int(round(target * SAMPLE_RATE / _HOP))
    lead = min(int(round(rng.uniform(0.1, 0.35) * SAMPLE_RATE / _HOP)), n_total // 4)
    trail = min(int(round(rng.uniform(0.1, 0.35) * SAMPLE_RATE / _HOP)), n_total // 4)
    nan = float("nan")
    segs: list[tuple[int, tuple]] = []   # (frames, values in _TRACKS order)

    def add(seconds, F=(nan, nan, nan), av=0.0, ah=0.0, af=0.0, ff=nan, fb=nan, nasal=0.0,
            zero=nan, stress=0.0, frames=None):
        if frames is None:
            frames = max(1, int(round(seconds * rate * SAMPLE_RATE / _HOP)))
        segs.append((frames, (*F, av, ah, af, ff, fb, nasal, zero, stress)))

    def consonant(name):
        c = CONSONANTS[name]
        jitter_d = rng.uniform(0.8, 1.2)
        F = tuple(f * vtl for f in c.formants) if c.formants else (nan, nan, nan)
        ff = min(c.fric_freq * vtl, 7200.0) if c.fric_freq else nan
        fb = c.fric_bw if c.fric_bw else nan
        if c.kind == "stop":       # closure (silence or voice bar), burst, aspiration
            add(c.duration * jitter_d, av=c.voicing)
            add(0.012, af=c.frication, ff=ff, fb=fb)
            if c.voicing == 0:
                add(0.035 * jitter_d, ah=0.25)
        elif c.kind == "h":
            add(c.duration * jitter_d, ah=0.3)
        else:
            add(c.duration * jitter_d, F=F, av=c.voicing, af=c.frication, ff=ff, fb=fb,
                nasal=1.0 if c.kind == "nasal" else 0.0,
                zero=c.nasal_zero * vtl if c.nasal_zero else nan)

    def vowel(stressed):
        v = int(rng.integers(len(VOWELS)))
        F = tuple(np.array(VOWELS[VOWEL_NAMES[v]]) * vtl * spk.vowel_shape[v])
        dur = (0.14 if stressed else 0.08) * rng.uniform(0.8, 1.25)
        add(dur, F=F, av=1.0 if stressed else 0.75, stress=1.0 if stressed else 0.0)

    add(0.0, frames=lead)
    while sum(f for f, _ in segs) < n_total - trail:
        n_syll = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
        stressed = 0 if rng.random() < 0.7 else int(rng.integers(n_syll))
        for k in range(n_syll):
            for _ in range(int(rng.choice([0, 1, 2], p=[0.3, 0.55, 0.15]))):
                consonant(CONSONANT_NAMES[int(rng.integers(len(CONSONANTS)))])
            vowel(k == stressed)
            if rng.random() < 0.5:
                consonant(CONSONANT_NAMES[int(rng.integers(len(CONSONANTS)))])
        if rng.random() < config.pause_prob:
            add(rng.uniform(0.08, 0.35))
    # Cut to the drawn duration (a word may be cut off, as in real clips) and end in silence.
    frames = np.concatenate([np.full(f, i) for i, (f, _) in enumerate(segs)])[: n_total - trail]
    values = np.array([v for _, v in segs], dtype=np.float64)[frames]
    silence = np.array([nan, nan, nan, 0, 0, 0, nan, nan, 0, nan, 0], dtype=np.float64)
    values = np.concatenate([values, np.tile(silence, (trail, 1))])
    return {name: values[:, i] for i, name in enumerate(_TRACKS)}


def _fill_nan(x: np.ndarray, default: float) -> np.ndarray:
    """Linear interpolation through NaN frames (constant extension at the ends)."""
    ok = ~np.isnan(x)
    if not ok.any():
        return np.full_like(x, default)
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` frames with edge padding (coarticulation, ramps)."""
    if width <= 1:
        return x
    pad = width // 2
    xp = np.pad(x, (pad, width - 1 - pad), mode="edge")
    c = np.cumsum(np.concatenate([[0.0], xp]))
    return (c[width:] - c[:-width]) / width


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

def _sections(freq, bw) -> np.ndarray:
    """Second-order section polynomials ``1 - 2 r cos(theta) z^-1 + r^2 z^-2``, one row per frame.

    ``r = exp(-pi B / fs)`` and ``theta = 2 pi F / fs`` place a pole pair (resonance) or, in a
    numerator, a zero pair (antiresonance) at F Hz with bandwidth B Hz.
    """
    freq, bw = np.broadcast_arrays(np.asarray(freq, dtype=np.float64), np.asarray(bw, dtype=np.float64))
    r = np.exp(-np.pi * bw / SAMPLE_RATE)
    return np.stack([np.ones_like(r), -2.0 * r * np.cos(2.0 * np.pi * freq / SAMPLE_RATE), r * r], -1)


def _polymul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise product of polynomials in z^-1: (frames, la) x (frames, lb) -> (frames, la+lb-1)."""
    out = np.zeros((a.shape[0], a.shape[1] + b.shape[1] - 1))
    for j in range(b.shape[1]):
        out[:, j:j + a.shape[1]] += a * b[:, j:j + 1]
    return out


_DFT_CACHE: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def _poly_response(coeffs: np.ndarray) -> torch.Tensor:
    """``sum_k c_k exp(-i w k)`` at the ``_NFFT // 2 + 1`` bins, per row, as complex128.

    A short polynomial is evaluated by a (frames, k) x (k, bins) product: much cheaper than a
    1024-point FFT of mostly zeros.
    """
    k = coeffs.shape[1]
    if k not in _DFT_CACHE:
        angle = 2.0 * np.pi * np.outer(np.arange(k), np.arange(_NFFT // 2 + 1)) / _NFFT
        _DFT_CACHE[k] = torch.from_numpy(np.cos(angle)), torch.from_numpy(-np.sin(angle))
    cos, sin = _DFT_CACHE[k]
    c = torch.from_numpy(coeffs)
    return torch.complex(c @ cos, c @ sin)


def _pole_zero_response(poles: list, zeros: list = ()) -> torch.Tensor:
    """Frequency response (frames, bins) at the ``_NFFT`` bins of a cascade of resonators
    (``poles``) and antiresonators (``zeros``), each a ``(freq, bw)`` pair of per-frame
    arrays, normalised to gain 1 at 0 Hz (Klatt 1980). The sections are multiplied into one
    polynomial first, so the response costs two small matrix products, not one per section.
    """
    den = _sections(*poles[0])
    for p in poles[1:]:
        den = _polymul(den, _sections(*p))
    num = np.ones((den.shape[0], 1))
    for z in zeros:
        num = _polymul(num, _sections(*z))
    gain = torch.from_numpy(den.sum(axis=1) / num.sum(axis=1))[:, None]   # A(1) / B(1)
    c64 = torch.complex64
    return (gain * _poly_response(num)).to(c64) / _poly_response(den).to(c64)


def _rosenberg(phase: np.ndarray, open_quotient: float, speed: float = 2.5) -> np.ndarray:
    """Rosenberg glottal flow pulse at cycle phase in [0, 1): opening, closing, closed."""
    tp = open_quotient * speed / (1.0 + speed)
    g = np.zeros_like(phase)
    rise = phase < tp
    fall = (phase >= tp) & (phase < open_quotient)
    g[rise] = 0.5 * (1.0 - np.cos(np.pi * phase[rise] / tp))
    g[fall] = np.cos(0.5 * np.pi * (phase[fall] - tp) / (open_quotient - tp))
    return g


def _fast_len(n: int) -> int:
    """The next power of two: numpy's FFT is several times faster there than at odd sizes."""
    return 1 << int(math.ceil(math.log2(n)))


def _shaped_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Unit-RMS background noise of one of five kinds."""
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        mains = 50.0 if rng.random() < 0.5 else 60.0
        x = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * h * mains * t + rng.uniform(0, 6.3))
                for h in range(1, 9)) + 0.05 * rng.standard_normal(n)
    elif kind == "white":
        x = rng.standard_normal(n)
    else:                            # coloured: white noise shaped in the frequency domain
        m = _fast_len(n)
        f = np.maximum(np.fft.rfftfreq(m, 1 / SAMPLE_RATE), 20.0)
        shape = {"pink": f ** -0.5, "brown": f ** -1.0,
                 "babble": 1.0 / np.sqrt(1.0 + (f / 700.0) ** 3) / np.sqrt(1.0 + (120.0 / f) ** 4)}[kind]
        x = np.fft.irfft(np.fft.rfft(rng.standard_normal(m)) * shape, m)[:n]
        if kind == "babble":         # several talkers' syllable-rate level fluctuations
            knots = n // 800 + 2
            env = np.interp(np.arange(n), np.arange(knots) * 800.0, rng.standard_normal(knots))
            x = x * (1.0 + 0.5 * env)
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def synthesize_utterance(spk: Speaker, rng: np.random.Generator,
                         config: SynthesisConfig = SynthesisConfig()) -> np.ndarray:
    """One utterance of ``spk`` as a float64 waveform at 16 kHz, channel and noise included.

    Runs torch single-threaded: its arrays are small, and extra threads only slow it down on
    a busy machine (and could change the last bits of the results).
    """
    with _single_thread():
        return _synthesize(spk, rng, config)


def _synthesize(spk: Speaker, rng: np.random.Generator, config: SynthesisConfig) -> np.ndarray:
    w = config.within_speaker
    # Per-utterance variation of the speaker: mood/pitch, tempo, vocal effort, articulation.
    f0_base = spk.f0 * 2 ** (w * 1.2 * rng.standard_normal() / 12)
    rate = spk.rate * math.exp(w * 0.08 * rng.standard_normal())
    tilt = max(0.0, spk.tilt + w * 1.2 * rng.standard_normal())
    breath = spk.breathiness * math.exp(w * 0.3 * rng.standard_normal())
    vtl = spk.vtl * math.exp(w * 0.012 * rng.standard_normal())

    tr = _plan(rng, spk, rate, vtl, config)
    n_ctrl = len(tr["av"])
    n = n_ctrl * _HOP
    t_ctrl = (np.arange(n_ctrl) + 0.5) * _HOP / SAMPLE_RATE

    # ---- control tracks
    formants = np.stack([_smooth(_fill_nan(tr[k], d), 5)
                         for k, d in (("F1", 500 * vtl), ("F2", 1500 * vtl), ("F3", 2500 * vtl))])
    amp = {k: _smooth(tr[k], 3) for k in ("av", "ah", "af", "nasal")}
    ff = _fill_nan(tr["ff"], 4000.0)
    fb = _fill_nan(tr["fb"], 2000.0)
    zero = _fill_nan(tr["zero"], 1000.0)

    # F0 in semitones: declination, pitch accents on stressed vowels, final fall or rise,
    # slow wander, frame-level jitter; creaky endings drop 9 semitones and get irregular.
    st = -spk.declination * (t_ctrl - t_ctrl.mean())
    centres = np.flatnonzero(np.diff(np.concatenate([[0.0], tr["stress"]])) > 0)
    for c in centres:
        width = 0.09 * rate
        st += spk.f0_range * rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((t_ctrl - t_ctrl[c]) / width) ** 2)
    voiced = np.flatnonzero(tr["av"] > 0.3)
    last = t_ctrl[voiced[-1]] if len(voiced) else t_ctrl[-1]
    final = (0.8 if rng.random() < 0.2 else -0.5) * spk.f0_range
    st += final * np.clip((t_ctrl - (last - 0.3)) / 0.3, 0.0, 1.0)
    st += _smooth(np.repeat(rng.standard_normal(n_ctrl // 12 + 2), 12)[:n_ctrl], 12) * 0.6
    jitter = np.full(n_ctrl, spk.jitter)
    shimmer = np.full(n_ctrl, spk.shimmer)
    if rng.random() < spk.creak:
        creaky = t_ctrl > last - 0.22
        st[creaky] -= 9.0
        jitter[creaky] *= 5.0
        shimmer[creaky] *= 3.0
    f0 = f0_base * 2 ** (st / 12) * np.exp(jitter * rng.standard_normal(n_ctrl))
    f0 = np.clip(f0, 40.0, 600.0)

    # ---- source (per sample)
    ts = (np.arange(n) + 0.5) / _HOP - 0.5          # sample time in control frames
    idx = np.arange(n_ctrl)
    f0_s = np.interp(ts, idx, f0)
    phase = np.cumsum(f0_s / SAMPLE_RATE) % 1.0
    g = _rosenberg(phase, spk.open_quotient)
    dg = np.diff(g, prepend=0.0)
    dg /= np.sqrt(np.mean(dg * dg)) + 1e-12
    av = np.interp(ts, idx, amp["av"] * (1.0 + shimmer * rng.standard_normal(n_ctrl)))
    ah = np.interp(ts, idx, amp["ah"])
    af = np.interp(ts, idx, amp["af"])
    noise_a = rng.standard_normal(n)
    excitation = av * dg + noise_a * (breath * av * (0.25 + 0.75 * g) + ah)
    frication = af * rng.standard_normal(n)

    # ---- filters (one per 16 ms synthesis frame) and overlap-add
    n_filt = n // _FHOP + 2                            # frame j is centred on sample 256 j
    at = np.arange(n_filt) * (_FHOP / _HOP) - 0.5      # its time in control frames
    fr = {k: np.interp(at, idx, v) for k, v in (("F1", formants[0]), ("F2", formants[1]),
                                                 ("F3", formants[2]), ("nasal", amp["nasal"]),
                                                 ("zero", zero), ("ff", ff), ("fb", fb))}
    freqs = np.arange(_NFFT // 2 + 1) * SAMPLE_RATE / _NFFT
    bws = _REF_BANDWIDTHS * spk.bandwidth
    nasal_pole = 270.0 * vtl
    # Non-nasal frames put the nasal zero on the nasal pole, so the pair cancels (Klatt).
    nasal_zero = fr["nasal"] * fr["zero"] + (1.0 - fr["nasal"]) * nasal_pole
    nasal_bw = 100.0 + 50.0 * fr["nasal"]
    tract = _pole_zero_response(
        [(fr["F1"], bws[0] * (1.0 + 2.0 * breath)),      # glottal losses widen B1
         (fr["F2"], bws[1]), (fr["F3"], bws[2]),
         (np.full(n_filt, min(spk.f4, 7000.0)), bws[3]), (np.full(n_filt, min(spk.f5, 7500.0)), bws[4]),
         (np.full(n_filt, nasal_pole), 100.0)],
        [(nasal_zero, nasal_bw)])
    tilt_gain = 10 ** (-tilt * np.log2(np.maximum(freqs, 500.0) / 500.0) / 20)
    tract = tract * torch.from_numpy(tilt_gain.astype(np.float32))
    fric_filter = (_pole_zero_response([(fr["ff"], fr["fb"])])                # no DC in noise
                   * torch.from_numpy((freqs / (freqs + 1000.0)).astype(np.float32)))

    # Frames in float32 torch: its FFT is several times faster than numpy's here, and float32
    # is plenty for a signal that ends up as float32 log energies.
    window = np.hanning(_FRAME + 1)[:-1]             # periodic: copies 256 apart sum to 1
    pad = _FRAME
    starts = pad - _FRAME // 2 + np.arange(n_filt) * _FHOP
    view = np.lib.stride_tricks.sliding_window_view

    def frames(x):
        return torch.from_numpy((view(np.pad(x, pad), _FRAME)[starts] * window).astype(np.float32))

    spec = torch.fft.rfft(frames(excitation), _NFFT) * tract
    spec += torch.fft.rfft(frames(frication), _NFFT) * fric_filter
    y = torch.fft.irfft(spec, _NFFT).numpy().astype(np.float64).reshape(n_filt, _NFFT // _FHOP, _FHOP)
    blocks = np.zeros((n_filt + _NFFT // _FHOP, _FHOP))
    for k in range(_NFFT // _FHOP):
        blocks[k:k + n_filt] += y[:, k]
    speech = blocks.ravel()[_FRAME // 2:_FRAME // 2 + n]   # block 0 starts 256 samples early

    # ---- level, room, channel, noise
    active = np.interp(ts, idx, (amp["av"] + amp["af"] + amp["ah"]) > 0.05) > 0.5
    if not active.any():
        active[:] = True
    speech /= np.sqrt(np.mean(speech[active] ** 2)) + 1e-12
    speech *= 0.05                                   # about -26 dBFS while speaking
    if rng.random() < config.reverb_prob:
        rt60 = rng.uniform(0.15, 0.6)
        length = int(rt60 * SAMPLE_RATE)
        tail = rng.standard_normal(length) * np.exp(-6.91 * np.arange(length) / length)
        rir = np.concatenate([[1.0], rng.uniform(0.1, 0.5) * tail / np.sqrt(np.sum(tail ** 2) / 20)])
        m = _fast_len(n + len(rir))
        speech = np.fft.irfft(np.fft.rfft(speech, m) * np.fft.rfft(rir, m), m)[:n]
    m = _fast_len(n + 2048)                          # zero-padded: the filter's ringing has room
    f = np.maximum(np.fft.rfftfreq(m, 1 / SAMPLE_RATE), 1.0)
    gain_db = np.zeros_like(f)
    for _ in range(3):
        centre = math.exp(rng.uniform(math.log(100), math.log(7000)))
        width = rng.uniform(0.3, 1.0)                # octaves (sd)
        gain_db += config.eq_db * rng.standard_normal() * np.exp(-0.5 * (np.log2(f / centre) / width) ** 2)
    highpass = math.exp(rng.uniform(math.log(40), math.log(300)))          # 2nd-order corner
    channel = 10 ** (gain_db / 20) / np.sqrt(1 + (highpass / f) ** 4)
    if rng.random() < config.lowpass_prob:
        channel /= np.sqrt(1 + (f / rng.uniform(3400, 7000)) ** 12)
    speech = np.fft.irfft(np.fft.rfft(speech, m) * channel, m)[:n]
    signal_power = np.mean(speech[active] ** 2)
    kind = ("white", "pink", "brown", "hum", "babble")[int(rng.integers(5))]
    snr = rng.uniform(*config.snr_db)
    noise = _shaped_noise(rng, n, kind) * math.sqrt(signal_power / 10 ** (snr / 10))
    floor = 1e-4 * rng.standard_normal(n)            # microphone self-noise, about -80 dBFS
    return (speech + noise) * 10 ** (rng.uniform(-1, 1) * config.gain_db / 20) + floor


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

def feature_filename(seed: int, index: int) -> str:
    """``uttr-<32 hex>.pt``: derived from (seed, global utterance index), so names reveal
    neither the speaker nor the order, and differ between seeds."""
    return f"uttr-{hashlib.sha1(f'{seed}-{index}'.encode()).hexdigest()[:32]}.pt"


def _render(job) -> tuple[str, int]:
    """Worker: synthesise one utterance, write its features, return (file name, frames)."""
    out_dir, spk, seed, spk_index, utt_index, filename, config = job
    wave = synthesize_utterance(spk, _rng(seed, 1, spk_index, utt_index), config)
    mel = log_mel_spectrogram(wave)
    torch.save(mel, Path(out_dir) / filename)
    return filename, int(mel.shape[0])


def _worker_init():
    torch.set_num_threads(1)


def default_answers_path(out_dir) -> Path:
    """Where the hidden test labels go unless told: ``<out_dir>-answers.csv`` beside out_dir."""
    out_dir = Path(out_dir).resolve()
    return out_dir.with_name(out_dir.name + "-answers.csv")


DEFAULT_SPEAKERS = 100
DEFAULT_UTTERANCES = 30             # per speaker: 24 train/valid + 6 test with test_fraction 0.2
_OUR_FILES = ("mapping.json", "metadata.json", "testdata.json")


def split_plan(n_speakers: int, utterances_per_speaker: int, seed: int,
               test_fraction: float) -> list[tuple[int, int, str, bool]]:
    """``(speaker index, utterance index, file name, is_test)`` for every utterance of a dataset.

    Cheap (no audio): which utterances are held out and what their files are called depends
    only on these four numbers, so :func:`hidden_answers` can rebuild the hidden labels.
    """
    n_test = int(math.floor(test_fraction * utterances_per_speaker + 0.5))
    plan = []
    for s in range(n_speakers):
        test_set = set(_rng(seed, 2, s).permutation(utterances_per_speaker)[:n_test].tolist())
        for u in range(utterances_per_speaker):
            plan.append((s, u, feature_filename(seed, s * utterances_per_speaker + u), u in test_set))
    return plan


def hidden_answers(n_speakers: int = DEFAULT_SPEAKERS, utterances_per_speaker: int = DEFAULT_UTTERANCES,
                 seed: int = 0, test_fraction: float = 0.2) -> list[tuple[str, str]]:
    """The hidden ``(feature_path, speaker name)`` pairs of a dataset, sorted, without rendering
    it: what :func:`generate_dataset` writes to the answers CSV.

    Anyone who knows the seed can call this, which is why a class must be given a dataset made
    with a seed only the instructor knows (``--seed``); the default seed 0 is for self-study.
    """
    return sorted((filename, speaker_name(s))
                  for s, _, filename, held_out in split_plan(n_speakers, utterances_per_speaker,
                                                             seed, test_fraction) if held_out)


def generate_dataset(out_dir, n_speakers: int = DEFAULT_SPEAKERS,
                     utterances_per_speaker: int = DEFAULT_UTTERANCES, seed: int = 0,
                     test_fraction: float = 0.2, answers_path=None,
                     config: SynthesisConfig = SynthesisConfig(), workers: int | None = None,
                     overwrite: bool = False, progress: bool = False) -> dict:
    """Write a dataset in the course's HW4 format to ``out_dir``; returns a summary dict.

    Each speaker gets ``utterances_per_speaker`` utterances, of which
    ``round(test_fraction * utterances_per_speaker)`` (chosen at random per speaker) go to
    ``testdata.json`` and the rest to ``metadata.json`` (students split those into train and
    valid). The test labels are written only to ``answers_path`` (default
    :func:`default_answers_path`), a CSV ``Id,Category`` that must not be inside ``out_dir``:
    the data folder is what students get.

    ``workers`` processes render in parallel (default: up to 2, and 1 for small datasets);
    the files do not depend on it. A folder that already holds a dataset is refused unless
    ``overwrite`` (which deletes its ``uttr-*.pt`` and JSON files first, so no stale
    utterances of another seed stay behind).
    """
    out_dir = Path(out_dir)
    answers_path = default_answers_path(out_dir) if answers_path is None else Path(answers_path)
    if out_dir.resolve() in answers_path.resolve().parents:
        raise ValueError(f"answers_path {answers_path} is inside the data folder {out_dir}; "
                         "the hidden labels must stay out of what students receive")
    if n_speakers < 1 or utterances_per_speaker < 1:
        raise ValueError("need at least one speaker and one utterance per speaker")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    start = time.perf_counter()
    old = sorted(out_dir.glob("uttr-*.pt")) + [out_dir / n for n in _OUR_FILES if (out_dir / n).exists()]
    if old and not overwrite:
        raise ValueError(f"{out_dir} already holds a dataset ({len(old)} files); "
                         "choose another folder or pass overwrite=True (--overwrite)")
    for path in old:
        path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    speakers = [draw_speaker(seed, i, config) for i in range(n_speakers)]
    jobs, is_test = [], []
    for s, u, filename, held_out in split_plan(n_speakers, utterances_per_speaker, seed, test_fraction):
        jobs.append((str(out_dir), speakers[s], seed, s, u, filename, config))
        is_test.append(held_out)

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(jobs) >= 200 else 1
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="utt", desc="rendering")
    results = []
    if workers <= 1:
        with _single_thread():
            for job in jobs:
                results.append(_render(job))
                bar and bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")    # safe with torch threads and notebooks
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            for r in pool.imap(_render, jobs, chunksize=8):
                results.append(r)
                bar and bar.update()
    if bar:
        bar.close()

    by_speaker: dict[str, list] = {spk.name: [] for spk in speakers}
    test, answers = [], []
    for job, (filename, frames), held_out in zip(jobs, results, is_test):
        entry = {"feature_path": filename, "mel_len": frames}
        name = job[1].name
        if held_out:
            test.append(entry)
            answers.append((filename, name))
        else:
            by_speaker[name].append(entry)
    # Test order by file name (a hash), so the list order does not give the speakers away.
    test.sort(key=lambda e: e["feature_path"])
    answers.sort()

    def dump(obj, path):
        Path(path).write_text(json.dumps(obj, indent=2) + "\n")

    names = [spk.name for spk in speakers]
    dump({"speaker2id": {n: i for i, n in enumerate(names)},
          "id2speaker": {str(i): n for i, n in enumerate(names)}}, out_dir / "mapping.json")
    dump({"n_mels": N_MELS, "speakers": by_speaker}, out_dir / "metadata.json")
    dump({"n_mels": N_MELS, "utterances": test}, out_dir / "testdata.json")
    answers_path.parent.mkdir(parents=True, exist_ok=True)
    with open(answers_path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Id", "Category"])
        writer.writerows(answers)

    frames = [fr for _, fr in results]
    return {
        "out_dir": str(out_dir), "answers_path": str(answers_path), "speakers": n_speakers,
        "train_valid_utterances": len(jobs) - len(test), "test_utterances": len(test),
        "frames": int(sum(frames)), "mean_frames": float(np.mean(frames)),
        "bytes": int(sum((out_dir / fn).stat().st_size for fn, _ in results)),
        "seconds": time.perf_counter() - start, "workers": workers,
    }


# --------------------------------------------------------------------------------------------
# hw4's prediction task: the hooks the course configuration names (autograder.course)
# --------------------------------------------------------------------------------------------

EXAMPLE_DATASET = dict(n_speakers=100, utterances_per_speaker=30, seed=0, test_fraction=0.2)  # the default one


def default_answers_csv() -> Path:
    """The hidden labels the grader uses unless told: beside the default data folder
    (``data/speakers-answers.csv``, or ``$HW4_DATA-answers.csv``)."""
    from coursekit.speaker_data import default_data_dir
    return default_answers_path(default_data_dir())


def write_example_answers(path) -> Path:
    """The hidden labels of the default dataset (what the example predictions are for),
    computed from its seed without rendering audio."""
    from coursekit.speaker_data import write_predictions
    pairs = hidden_answers(**EXAMPLE_DATASET)
    write_predictions(path, [p for p, _ in pairs], [s for _, s in pairs])
    return Path(path)


def example_predictions(path, accuracy: float, seed: int = 0) -> None:
    """A predictions.csv for the default dataset with exactly ``round(accuracy * N)`` right
    answers (the others name another speaker), in testdata.json's order."""
    import random
    from coursekit.speaker_data import write_predictions
    pairs = hidden_answers(**EXAMPLE_DATASET)
    rng = random.Random(seed)
    wrong = set(rng.sample(range(len(pairs)), len(pairs) - round(accuracy * len(pairs))))
    n = EXAMPLE_DATASET["n_speakers"]
    names = [speaker_name((int(s[2:]) - 10001 + 1 + rng.randrange(n - 1)) % n) if i in wrong else s
             for i, (_, s) in enumerate(pairs)]
    write_predictions(path, [p for p, _ in pairs], names)

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m coursekit.speakers",
                                description="Generate the synthetic hw4 speaker-identification dataset.")
    p.add_argument("out_dir")
    p.add_argument("--speakers", type=int, default=DEFAULT_SPEAKERS)
    p.add_argument("--utterances", type=int, default=DEFAULT_UTTERANCES,
                   help="per speaker, test ones included")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--answers", default=None, help="hidden test labels CSV (default: OUT_DIR-answers.csv)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUT_DIR")
    args = p.parse_args(argv)
    try:
        info = generate_dataset(args.out_dir, args.speakers, args.utterances, args.seed,
                                args.test_fraction, args.answers, workers=args.workers,
                                overwrite=args.overwrite, progress=sys.stderr.isatty())
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {info['speakers']} speakers, {info['train_valid_utterances']} train/valid and "
          f"{info['test_utterances']} test utterances ({info['frames']} frames, "
          f"{info['bytes'] / 1e6:.1f} MB) to {info['out_dir']} in {info['seconds']:.1f} s; "
          f"test labels in {info['answers_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
