"""The hw4 speaker data: the synthetic generator (coursekit.speakers) and the loader
(coursekit.speaker_data), on a tiny generated dataset and on a hand-made one in the original
course's layout."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from coursekit import speakers as S
from coursekit.speaker_data import (PAD_VALUE, InferenceDataset, SpeakerDataset,
                                    accuracy_from_files, collate_inference, collate_pad,
                                    length_sorted_batches, lengths_to_mask, read_predictions,
                                    train_valid_split, write_predictions)

N_SPK, N_UTT = 4, 3                      # tiny: 4 speakers x 3 utterances, 1 of each held out
TINY = dict(n_speakers=N_SPK, utterances_per_speaker=N_UTT, test_fraction=1 / 3, workers=1)
FILE_RE = re.compile(r"^uttr-[0-9a-f]{32}\.pt$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("speakers")
    info = S.generate_dataset(root / "data", seed=0, **TINY)
    return root / "data", Path(info["answers_path"]), info


def _json(path):
    return json.loads(Path(path).read_text())


def _answers(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------ format


def test_layout_and_json_schemas(tiny):
    data, answers, info = tiny
    mapping = _json(data / "mapping.json")
    names = [f"id{10001 + i}" for i in range(N_SPK)]
    assert mapping["speaker2id"] == {n: i for i, n in enumerate(names)}
    assert mapping["id2speaker"] == {str(i): n for i, n in enumerate(names)}

    meta = _json(data / "metadata.json")
    assert meta["n_mels"] == 40 and list(meta["speakers"]) == names
    assert all(len(v) == N_UTT - 1 for v in meta["speakers"].values())
    test = _json(data / "testdata.json")
    assert test["n_mels"] == 40 and len(test["utterances"]) == N_SPK
    entries = [e for v in meta["speakers"].values() for e in v] + test["utterances"]
    assert all(set(e) == {"feature_path", "mel_len"} and FILE_RE.match(e["feature_path"])
               for e in entries)
    # exactly the referenced files, and nothing else (no labels) in the data folder
    files = {p.name for p in data.iterdir()}
    assert files == {"mapping.json", "metadata.json", "testdata.json"} | {e["feature_path"] for e in entries}
    assert info["train_valid_utterances"] == N_SPK * (N_UTT - 1) and info["test_utterances"] == N_SPK
    # test order is by file name, not by speaker
    assert [e["feature_path"] for e in test["utterances"]] == sorted(e["feature_path"] for e in test["utterances"])


def test_feature_files_are_float32_log_mels(tiny):
    data, _, _ = tiny
    meta = _json(data / "metadata.json")
    entries = [e for v in meta["speakers"].values() for e in v] + _json(data / "testdata.json")["utterances"]
    cfg = S.SynthesisConfig()
    for e in entries:
        mel = torch.load(data / e["feature_path"], weights_only=True)
        assert mel.dtype == torch.float32 and mel.shape == (e["mel_len"], 40)
        assert torch.isfinite(mel).all()
        # floored at ln(1e-5), so every real value sits well above the padding value -20
        assert mel.min() >= math.log(S.LOG_FLOOR) - 1e-4 > PAD_VALUE
        assert S.num_frames(int(cfg.min_duration * 16000) - 128) <= e["mel_len"] <= S.num_frames(int(cfg.max_duration * 16000) + 128)
        assert mel.max() > mel.min() + 5          # speech is louder than its pauses


def test_hidden_labels_live_outside_the_data_folder(tiny, tmp_path):
    data, answers, _ = tiny
    assert answers == S.default_answers_path(data) and answers.parent == data.resolve().parent
    rows = _answers(answers)
    assert list(rows[0]) == ["Id", "Category"]
    test_ids = [e["feature_path"] for e in _json(data / "testdata.json")["utterances"]]
    assert sorted(r["Id"] for r in rows) == sorted(test_ids)
    assert sorted(r["Category"] for r in rows) == [f"id{10001 + i}" for i in range(N_SPK)]
    with pytest.raises(ValueError, match="inside the data folder"):
        S.generate_dataset(tmp_path / "d", answers_path=tmp_path / "d" / "answers.csv", **TINY)


def test_generation_is_deterministic_in_the_seed(tiny, tmp_path):
    data, answers, _ = tiny
    S.generate_dataset(tmp_path / "same", seed=0, **TINY)
    for p in data.iterdir():
        assert (tmp_path / "same" / p.name).read_bytes() == p.read_bytes(), p.name
    assert S.default_answers_path(tmp_path / "same").read_bytes() == answers.read_bytes()

    S.generate_dataset(tmp_path / "other", seed=1, **TINY)
    other = {p.name for p in (tmp_path / "other").glob("uttr-*.pt")}
    assert other.isdisjoint(p.name for p in data.glob("uttr-*.pt"))
    a = torch.load(next(iter(sorted((tmp_path / "other").glob("uttr-*.pt")))), weights_only=True)
    assert all(a.shape != torch.load(p, weights_only=True).shape or not torch.equal(a, torch.load(p, weights_only=True))
               for p in data.glob("uttr-*.pt"))


def test_files_do_not_depend_on_the_worker_count(tmp_path):
    small = dict(n_speakers=2, utterances_per_speaker=2, test_fraction=0.5, seed=2)
    S.generate_dataset(tmp_path / "one", workers=1, **small)
    S.generate_dataset(tmp_path / "two", workers=2, **small)
    for p in (tmp_path / "one").iterdir():
        assert (tmp_path / "two" / p.name).read_bytes() == p.read_bytes(), p.name


def test_short_utterances_and_bad_knobs():
    cfg = S.SynthesisConfig(min_duration=0.5, max_duration=0.5)
    wave = S.synthesize_utterance(S.draw_speaker(0, 0, cfg), S._rng(0, 9), cfg)
    assert np.isfinite(wave).all() and 0.4 * 16000 < len(wave) < 0.6 * 16000
    with pytest.raises(ValueError):
        S.SynthesisConfig(min_duration=2.0, max_duration=1.0)
    with pytest.raises(ValueError):
        S.SynthesisConfig(reverb_prob=1.5)


def test_an_existing_dataset_is_not_overwritten_by_accident(tiny, tmp_path):
    S.generate_dataset(tmp_path / "d", seed=3, n_speakers=1, utterances_per_speaker=2, test_fraction=0.5)
    with pytest.raises(ValueError, match="already holds a dataset"):
        S.generate_dataset(tmp_path / "d", seed=4, n_speakers=1, utterances_per_speaker=2, test_fraction=0.5)
    S.generate_dataset(tmp_path / "d", seed=4, n_speakers=1, utterances_per_speaker=2, test_fraction=0.5,
                       overwrite=True)
    assert len(list((tmp_path / "d").glob("uttr-*.pt"))) == 2      # seed 3's files are gone


def test_cli(tmp_path, capsys):
    assert S.main([str(tmp_path / "cli"), "--speakers", "2", "--utterances", "3", "--seed", "5",
                   "--answers", str(tmp_path / "labels.csv")]) == 0
    assert "2 speakers" in capsys.readouterr().out
    assert len(_answers(tmp_path / "labels.csv")) == 2                # round(0.2 * 3) = 1 each
    assert S.main([str(tmp_path / "cli"), "--speakers", "2"]) == 2     # refuses to overwrite


# ------------------------------------------------------------------------------ features


def test_feature_pipeline_on_a_sine():
    t = np.arange(16000) / 16000
    mel = S.log_mel_spectrogram(0.1 * np.sin(2 * np.pi * 1000 * t))
    assert mel.shape == (98, 40) == (1 + (16000 - 400) // 160, 40) and S.num_frames(16000) == 98
    centres = S.mel_to_hz(np.linspace(0, S.hz_to_mel(8000), 42))[1:-1]
    assert (mel.argmax(1) == int(np.abs(centres - 1000).argmin())).all()
    # log energies: twice the amplitude is 2 ln 2 higher wherever the floor is not reached
    louder = S.log_mel_spectrogram(0.2 * np.sin(2 * np.pi * 1000 * t))
    band = int(np.abs(centres - 1000).argmin())
    assert torch.allclose(louder[:, band] - mel[:, band], torch.full((98,), 2 * math.log(2)), atol=1e-4)
    silence = S.log_mel_spectrogram(np.zeros(4000))
    assert silence.shape == (S.num_frames(4000), 40) and torch.all(silence == math.log(S.LOG_FLOOR))
    with pytest.raises(ValueError):
        S.log_mel_spectrogram(np.zeros(399))


def test_mel_filterbank():
    fb = S.mel_filterbank()
    assert fb.shape == (40, 257)
    peaks = fb.max(1).values              # triangles peak at 1 between FFT bins, so at the bins
    assert (peaks <= 1).all() and (peaks > 0.5).all()
    assert (fb.sum(1) > 0).all() and fb[:, -1].sum() < 1e-9          # 8 kHz is the last edge
    assert (fb.argmax(1).diff() >= 0).all()


# ------------------------------------------------------------------------------ loader


def test_speaker_dataset_crops_and_collates(tiny):
    data, _, _ = tiny
    ds = SpeakerDataset(data)
    assert len(ds) == N_SPK * (N_UTT - 1) and ds.num_speakers == N_SPK
    mel, label = ds[0]
    assert mel.shape == (128, 40) and mel.dtype == torch.float32 and 0 <= label < N_SPK
    torch.manual_seed(0)
    crops = {tuple(ds[0][0][0, :3].tolist()) for _ in range(5)}
    assert len(crops) > 1                                            # random crops
    full = ds.with_segment_len(None)
    assert [full[i][0].shape[0] for i in range(len(ds))] == ds.lengths
    long = ds.with_segment_len(10_000)                               # shorter: kept whole
    assert long[0][0].shape[0] == ds.lengths[0]

    batch = [full[i] for i in range(3)]
    mels, lengths, labels = collate_pad(batch)
    assert mels.shape == (3, max(ds.lengths[:3]), 40) and lengths.tolist() == ds.lengths[:3]
    mask = lengths_to_mask(lengths, mels.shape[1])
    assert mask.dtype == torch.bool and mask.sum(1).tolist() == lengths.tolist()
    assert (mels[~mask] == PAD_VALUE).all() and (mels[mask] > PAD_VALUE).all()
    assert labels.tolist() == [b[1] for b in batch]
    assert lengths_to_mask(torch.tensor([2, 0, 3])).tolist() == [[True, True, False], [False] * 3, [True] * 3]


def test_train_valid_split_is_stratified_and_deterministic(tiny):
    data, _, _ = tiny
    ds = SpeakerDataset(data)
    train, valid = train_valid_split(ds, 0.5, seed=0)
    again, _ = train_valid_split(ds, 0.5, seed=0)
    other, _ = train_valid_split(ds, 0.5, seed=7)
    assert train.indices == again.indices and len(train) == len(valid) == N_SPK
    assert sorted(train.indices + valid.indices) == list(range(len(ds)))
    assert sorted(ds.labels[i] for i in valid.indices) == list(range(N_SPK))   # one per speaker
    assert train[0][0].shape == (128, 40)
    assert valid[0][0].shape[0] == ds.lengths[valid.indices[0]]                 # full length
    assert train.indices != other.indices or N_SPK == 0
    with pytest.raises(ValueError):
        train_valid_split(ds, 1.0)


def test_inference_batches_full_length_with_masks(tiny):
    data, _, _ = tiny
    inf = InferenceDataset(data)
    assert len(inf) == N_SPK
    loader = DataLoader(inf, batch_size=3, collate_fn=collate_inference)
    seen = []
    for paths, mels, lengths in loader:
        mask = lengths_to_mask(lengths, mels.shape[1])
        pooled = (mels * mask[..., None]).sum(1) / lengths[:, None]          # masked mean
        for p, row, n in zip(paths, pooled, lengths):
            ref = torch.load(data / p, weights_only=True)
            assert ref.shape[0] == n and torch.allclose(row, ref.mean(0), atol=1e-4)
        assert (mels[~mask] == PAD_VALUE).all()
        seen += paths
    assert seen == [e["feature_path"] for e in _json(data / "testdata.json")["utterances"]]
    batches = length_sorted_batches(inf.lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(inf)))
    assert [inf.lengths[i] for b in batches for i in b] == sorted(inf.lengths, reverse=True)
    sorted_loader = DataLoader(inf, batch_sampler=batches, collate_fn=collate_inference)
    assert sum(len(p) for p, _, _ in sorted_loader) == len(inf)


def test_original_course_layout_loads_unchanged(tmp_path):
    """Only the contract: names and ids like VoxCeleb's, any speaker order, tensors saved by torch."""
    names = ["id10473", "id10300"]
    (tmp_path / "mapping.json").write_text(json.dumps(
        {"speaker2id": {"id10300": 0, "id10473": 1}, "id2speaker": {"0": "id10300", "1": "id10473"}}))
    speakers, g = {}, torch.Generator().manual_seed(0)
    for k, name in enumerate(names):
        speakers[name] = []
        for j, n in enumerate((150, 90)):
            fp = f"uttr-{k:02d}{j:02d}18e375195dc146fd8d14b8a322c29b.pt"
            torch.save(torch.randn(n, 40, generator=g), tmp_path / fp)
            speakers[name].append({"feature_path": fp, "mel_len": n})
    (tmp_path / "metadata.json").write_text(json.dumps({"n_mels": 40, "speakers": speakers}))
    torch.save(torch.randn(60, 40), tmp_path / "uttr-ffff.pt")
    (tmp_path / "testdata.json").write_text(json.dumps(
        {"n_mels": 40, "utterances": [{"feature_path": "uttr-ffff.pt", "mel_len": 60}]}))
    ds = SpeakerDataset(tmp_path)
    assert ds.labels == [1, 1, 0, 0] and ds[0][0].shape == (128, 40) and ds[1][0].shape == (90, 40)
    assert InferenceDataset(tmp_path)[0][1].shape == (60, 40)


# ------------------------------------------------------------------------------ predictions


def test_predictions_round_trip_and_accuracy(tiny, tmp_path):
    _, answers, _ = tiny
    truth = read_predictions(answers)
    ids, names = list(truth), list(truth.values())
    write_predictions(tmp_path / "p.csv", ids, names)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "Id,Category"
    assert read_predictions(tmp_path / "p.csv") == truth
    assert accuracy_from_files(tmp_path / "p.csv", answers) == 1.0
    wrong = names[1:] + names[:1]                                      # every one wrong
    write_predictions(tmp_path / "w.csv", ids[::-1], wrong[::-1])      # order does not matter
    assert accuracy_from_files(tmp_path / "w.csv", answers) == 0.0
    write_predictions(tmp_path / "h.csv", ids, names[:1] + wrong[1:])
    assert accuracy_from_files(tmp_path / "h.csv", answers) == pytest.approx(1 / N_SPK)
    with pytest.raises(ValueError):
        write_predictions(tmp_path / "x.csv", ids, names[:-1])


@pytest.mark.parametrize("text, message", [
    ("", "expected the header 'Id,Category'"),
    ("id,category\n", "expected the header 'Id,Category'"),
    ("Id,Speaker\n", "expected the header 'Id,Category'"),
    ("Id,Category\n{0},id10001,extra\n", "expected two fields"),
    ("Id,Category\n{0},\n", "expected two fields"),
    ("Id,Category\n{0},id10001\n{0},id10002\n", "appears twice"),
    ("Id,Category\n{0},id10001\n", "no prediction for 3 of 4"),
    ("Id,Category\n{all}uttr-0000.pt,id10001\n", "not test utterances"),
    # near-misses name their cause
    ("Id,Category\n", "has the header but no rows"),
    ("Id;Category\n{0};id10001\n", "separated by ';'"),
    ("Id\tCategory\n{0}\tid10001\n", "separated by tabs"),
    ("id,category\n{all}", "case-sensitive"),
    (",Id,Category\n0,{0},id10001\n", "extra first column (a pandas index?)"),
    ("{all}", "the first line is already a prediction"),
    ("Id,Category\n{0},id10001\n{0},id10001\n", "(first on line 2)"),
    ("Id,Category\n{folder}", "Ids carry a folder ('test/uttr-"),
    ("Id,Category\n{noext}", "Ids lack the '.pt' extension"),
    ("Id,Category\n{swapped}", "are the columns swapped?"),
    ("Id,Category\n{swapped_unique}", "are the columns swapped?"),
    ("Id,Category\n{ints}", "Category holds integers (0, 1 and 2 more): class indices?"),
    ("Id,Category\n{other}", "none of its 4 Ids is a test utterance of this dataset"),
    ("Id,Category\n{names}", "no Category is the speaker of any test utterance"),
])
def test_bad_prediction_files_fail_with_a_clear_message(tiny, tmp_path, text, message):
    _, answers, _ = tiny
    ids = [r["Id"] for r in _answers(answers)]
    rows = {"all": [f"{i},id10001" for i in ids], "folder": [f"test/{i},id10001" for i in ids],
            "noext": [f"{i[:-3]},id10001" for i in ids], "swapped": [f"id10001,{i}" for i in ids],
            "swapped_unique": [f"id1000{n},{i}" for n, i in enumerate(ids)],
            "ints": [f"{i},{n}" for n, i in enumerate(ids)], "other": [f"uttr-{n:032x}.pt,id10001" for n in range(4)],
            "names": [f"{i},speaker{n}" for n, i in enumerate(ids)]}
    body = text.replace("{0}", ids[0])
    for name, lines in rows.items():
        body = body.replace("{" + name + "}", "".join(line + "\n" for line in lines))
    (tmp_path / "bad.csv").write_text(body)
    with pytest.raises(ValueError, match=re.escape(message)):
        accuracy_from_files(tmp_path / "bad.csv", answers)


def test_prediction_csv_from_excel_with_bom(tiny, tmp_path):
    _, answers, _ = tiny
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + answers.read_bytes())
    assert accuracy_from_files(tmp_path / "bom.csv", answers) == 1.0


# ------------------------------------------------------------------------------ difficulty


def test_speakers_are_separable_but_not_trivially(tmp_path):
    """Leave-one-out nearest centroid on the mean of each utterance's loudest half of frames
    (a crude voice-activity detector), level-normalised: far above chance, far from perfect."""
    n_spk, n_utt = 6, 5
    feats, labels = [], []
    for s in range(n_spk):
        spk = S.draw_speaker(11, s)
        for u in range(n_utt):
            mel = S.log_mel_spectrogram(S.synthesize_utterance(spk, S._rng(11, 1, s, u)))
            loud = mel[mel.sum(1) >= mel.sum(1).median()].mean(0)
            feats.append((loud - loud.mean()).numpy())
            labels.append(s)
    X, y = np.array(feats), np.array(labels)
    X = (X - X.mean(0)) / X.std(0)
    correct = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        centroids = np.stack([X[keep & (y == k)].mean(0) for k in range(n_spk)])
        correct += int(((centroids - X[i]) ** 2).sum(1).argmin() == y[i])
    accuracy = correct / len(y)
    print(f"nearest-centroid accuracy {accuracy:.2f}")
    assert 2.0 / n_spk <= accuracy < 1.0, accuracy
