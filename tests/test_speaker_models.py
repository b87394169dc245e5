"""hw4's models and training loop: the reference answers (taken from the solution notebook),
the sample model, assembly, masked full-length evaluation, the best-checkpoint copy and
predictions in the course's CSV format."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from autograder.notebooks import reference_namespace
from coursekit.speaker_data import (InferenceDataset, SpeakerDataset, accuracy_from_files, collate_pad,
                                    frame_budget_batches, lengths_to_mask, read_predictions, train_valid_split,
                                    write_predictions)
from coursekit.speaker_models import (MeanPooling, TransformerBlock, conformer_classifier, evaluate, predict,
                                      sample_model, snapshot_weights, train_speaker_model)
from coursekit.speakers import default_answers_path, generate_dataset, hidden_answers

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import speaker_ladder  # noqa: E402  (the ladder's configurations, one definition)

PARTS = speaker_ladder.PARTS


@pytest.fixture(scope="module")
def ref():
    torch.set_num_threads(1)
    return reference_namespace(ROOT / "solutions" / "hw4_speaker_id" / "hw4_speaker_id.py", PARTS)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """6 speakers x 10 utterances (8 train/valid + 2 test each)."""
    base = tmp_path_factory.mktemp("speakers")
    info = generate_dataset(base / "data", n_speakers=6, utterances_per_speaker=10, seed=3, workers=1)
    return base / "data", default_answers_path(base / "data"), info


def test_reference_parts_keep_shapes(ref):
    B, T, d = 2, 9, 12
    x = torch.randn(B, T, d)
    assert ref["ConformerFeedForward"](d, 3)(x).shape == (B, T, d)
    assert ref["ConformerConvModule"](d, 5)(x).shape == (B, T, d)
    assert ref["ConformerBlock"](d, 3, 2, 5)(x).shape == (B, T, d)
    assert ref["SelfAttentionPooling"](d)(x).shape == (B, d)
    assert ref["AMSoftmax"](d, 7)(x[:, 0]).shape == (B, 7)
    with pytest.raises(ValueError, match="odd"):
        ref["ConformerConvModule"](d, 4)


def test_reference_block_and_pooling_ignore_padded_frames(ref):
    torch.manual_seed(0)
    d, T = 8, 7
    block, pool = ref["ConformerBlock"](d, 2, 2, 3).eval(), ref["SelfAttentionPooling"](d)
    x = torch.randn(2, T, d)
    mask = lengths_to_mask(torch.tensor([7, 4]), T)              # (B, T) True = real
    z = pool(x, mask)
    assert torch.allclose(z[1], pool(x[1:, :4])[0], atol=1e-6)
    # attention ignores padded keys and the convolution zeroes padded frames: every real frame
    # is what the utterance alone gives, whatever the padding holds
    x2 = x.clone()
    x2[1, 4:] = 50.0
    with torch.no_grad():
        assert torch.allclose(block(x2, mask)[1, :4], block(x[1:, :4])[0], atol=1e-5)
        conv = block.conv
        assert torch.allclose(conv(x2, mask)[1, :4], conv(x[1:, :4])[0], atol=1e-5)
        assert not torch.allclose(conv(x2)[1, :4], conv(x[1:, :4])[0], atol=1e-3)   # without the mask it leaks


def test_reference_am_softmax_margin_only_on_the_true_class(ref):
    ams = ref["AMSoftmax"](4, 5, s=10.0, m=0.3)
    x, y = torch.randn(3, 4), torch.tensor([0, 4, 2])
    diff = ams(x) - ams(x, y)                                     # (B, C)
    expected = torch.zeros(3, 5)
    expected[torch.arange(3), y] = 3.0
    assert torch.allclose(diff, expected, atol=1e-5)
    assert ams(x).abs().max() <= 10.0 + 1e-5                      # s * cosine


def test_sample_model_is_the_course_sample_and_pools_real_frames_only():
    model = sample_model(11).eval()
    assert model.prenet.in_features == 40 and model.prenet.out_features == 80
    assert len(model.blocks) == 1 and isinstance(model.pooling, MeanPooling)
    x = torch.randn(3, 20, 40)
    mask = lengths_to_mask(torch.tensor([20, 13, 5]), 20)
    assert model(x, mask).shape == (3, 11)
    # padding changes nothing for the real frames' prediction
    with torch.no_grad():
        alone = model(x[2:, :5])
        batched = model(x, mask)[2:]
    assert torch.allclose(alone, batched, atol=1e-5)
    pooled = MeanPooling()(x, mask)
    assert torch.allclose(pooled[1], x[1, :13].mean(0), atol=1e-6)


def test_transformer_block_converts_the_mask_for_pytorch():
    torch.manual_seed(0)
    block = TransformerBlock(8, 2, 16, dropout=0.0).eval()
    x = torch.randn(2, 6, 8)
    mask = lengths_to_mask(torch.tensor([6, 3]), 6)
    x2 = x.clone()
    x2[1, 3:] = 100.0
    with torch.no_grad():
        assert torch.allclose(block(x2, mask)[1, :3], block(x, mask)[1, :3], atol=1e-5)


def test_conformer_classifier_assembles_the_parts(ref):
    boss = conformer_classifier(6, ref["ConformerBlock"], ref["SelfAttentionPooling"], ref["AMSoftmax"],
                                d_model=16, num_blocks=2, nhead=2, kernel_size=5)
    strong = conformer_classifier(6, ref["ConformerBlock"], d_model=16, num_blocks=1, nhead=2, kernel_size=5)
    assert boss.margin_head and not strong.margin_head
    assert isinstance(strong.pooling, MeanPooling) and len(boss.blocks) == 2
    x, mask, y = torch.randn(2, 10, 40), torch.ones(2, 10, dtype=torch.bool), torch.tensor([1, 5])
    boss.eval()
    with torch.no_grad():
        plain, margin = boss(x, mask), boss(x, mask, y)
    assert plain.shape == margin.shape == (2, 6)
    assert torch.allclose(plain - margin, torch.zeros(2, 6).index_put_((torch.arange(2), y), torch.tensor(30 * 0.35)),
                          atol=1e-4)


def test_full_length_evaluation_with_masks_equals_one_utterance_at_a_time(tiny_data):
    data_dir, _, _ = tiny_data
    torch.manual_seed(0)
    model = sample_model(6).eval()
    dataset = SpeakerDataset(data_dir, segment_len=None)
    batched = evaluate(model, dataset, batch_size=8, device="cpu")
    with torch.no_grad():
        one_by_one = sum(int(model(m[None]).argmax()) == y for m, y in dataset) / len(dataset)
    assert batched == pytest.approx(one_by_one)


@pytest.mark.parametrize("config", speaker_ladder.CONFIGS)
def test_batched_evaluation_is_exact_for_every_ladder_configuration(ref, config):
    """Utterances of different lengths padded into one batch give the logits each gives alone
    (eval mode, random weights and batch-norm statistics): no padded frame reaches a real one."""
    torch.manual_seed(1)
    model = speaker_ladder.make_model(config, 5, ref, d_model=16, dim_feedforward=32, kernel_size=5).eval()   # small
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):                         # statistics other than 0 and 1
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    lengths = [23, 17, 9, 4, 1]
    mels = [torch.randn(n, 40) for n in lengths]
    batch = torch.full((len(lengths), max(lengths), 40), -20.0)   # padded as collate_pad pads
    for i, m in enumerate(mels):
        batch[i, :len(m)] = m
    mask = lengths_to_mask(torch.tensor(lengths), max(lengths))
    with torch.no_grad():
        batched = model(batch, mask)                              # (B, n_speakers)
        alone = torch.cat([model(m[None]) for m in mels])         # (B, n_speakers)
        unmasked = model(batch)
    assert torch.allclose(batched, alone, atol=1e-4), (batched - alone).abs().max()
    assert not torch.allclose(unmasked, alone, atol=1e-2)         # the test can fail: padding matters


def test_training_keeps_a_copy_of_the_best_weights(tiny_data, ref):
    data_dir, _, _ = tiny_data
    dataset = SpeakerDataset(data_dir, segment_len=64)
    train_set, valid_set = train_valid_split(dataset, valid_fraction=0.25, seed=0)
    torch.manual_seed(0)
    model = conformer_classifier(6, ref["ConformerBlock"], ref["SelfAttentionPooling"], ref["AMSoftmax"],
                                 d_model=16, num_blocks=1, nhead=2, kernel_size=5)
    before = copy.deepcopy(model.state_dict())
    result = train_speaker_model(model, train_set, valid_set, steps=30, batch_size=8, valid_every=10,
                                 device="cpu", progress=False)
    assert [h[0] for h in result.history] == [10, 20, 30]
    assert result.best_accuracy == max(h[2] for h in result.history)
    assert result.best_step == next(h[0] for h in result.history if h[2] == result.best_accuracy)
    # the model now holds the best weights: evaluating it gives the best accuracy again
    assert evaluate(model, valid_set, device="cpu") == pytest.approx(result.best_accuracy)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training                                         # evaluation restored the mode


def test_predictions_cover_the_test_set_and_score_against_the_hidden_labels(tiny_data, tmp_path):
    data_dir, answers, info = tiny_data
    dataset = SpeakerDataset(data_dir)
    model = sample_model(6)
    paths, speakers = predict(model, data_dir, dataset.id2speaker, batch_size=4, device="cpu")
    assert paths == [p for p, _ in InferenceDataset(data_dir).items] and len(paths) == info["test_utterances"]
    assert set(speakers) <= set(dataset.speaker2id)
    write_predictions(tmp_path / "p.csv", paths, speakers)
    assert read_predictions(tmp_path / "p.csv") == dict(zip(paths, speakers))
    truth = read_predictions(answers)
    expected = sum(truth[p] == s for p, s in zip(paths, speakers)) / len(paths)
    assert accuracy_from_files(tmp_path / "p.csv", answers) == pytest.approx(expected)
    write_predictions(tmp_path / "right.csv", list(truth), list(truth.values()))
    assert accuracy_from_files(tmp_path / "right.csv", answers) == 1.0


def test_frame_budget_batches_bound_padded_frames_and_cover_every_utterance():
    lengths = [7000, 30, 4096, 2049, 2048, 500, 500, 7000, 1, 4097, 900, 2048]
    batches = frame_budget_batches(lengths, max_frames=4096, max_batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    order = [i for b in batches for i in b]
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)           # longest first
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 3 and (len(b) * longest <= 4096 or len(b) == 1), [lengths[i] for i in b]
    assert [[lengths[i] for i in b] for b in batches][:6] == [[7000], [7000], [4097], [4096], [2049], [2048, 2048]]
    assert len(frame_budget_batches([10] * 100, max_frames=50)) == 20                 # 5 per batch, no cap
    with pytest.raises(ValueError):
        frame_budget_batches(lengths, max_frames=0)


def test_predictions_do_not_depend_on_the_frame_budget(tiny_data):
    """Tiny budgets (one utterance per batch) and large ones give the same predictions, in
    testdata.json's order, and the same accuracy."""
    data_dir, _, _ = tiny_data
    torch.manual_seed(0)
    model = sample_model(6)
    budgets = (1, 10 ** 6)
    runs = [predict(model, data_dir, SpeakerDataset(data_dir).id2speaker, device="cpu", max_frames=f) for f in budgets]
    assert runs[0] == runs[1] and runs[0][0] == [p for p, _ in InferenceDataset(data_dir).items]
    valid = SpeakerDataset(data_dir, segment_len=None)
    assert len({evaluate(model, valid, device="cpu", max_frames=f) for f in budgets}) == 1


# Evaluates and predicts, in its own process so that the peak RSS is its own, on a hand-made
# data folder with utterances of 5,000-7,000 frames among short ones, with the Boss model
# (2 Conformer blocks, d=80, 2 heads). An address-space limit turns a batching that breaks the
# bound (32 utterances padded to 7,000 frames: 25 GB) into a failed allocation, not a swapping machine.
MEMORY_RUN = r"""
import json, resource, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from autograder.notebooks import reference_namespace
from coursekit.speaker_data import DEFAULT_MAX_FRAMES, SpeakerDataset
from coursekit.speaker_models import conformer_classifier, evaluate, predict

data, solution, lengths = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
ref = reference_namespace(Path(solution), ("ConformerFeedForward", "ConformerConvModule", "ConformerBlock",
                                           "SelfAttentionPooling", "AMSoftmax"))
torch.set_num_threads(1)
torch.manual_seed(0)
model = conformer_classifier(2, ref["ConformerBlock"], ref["SelfAttentionPooling"], ref["AMSoftmax"],
                             d_model=80, num_blocks=2, nhead=2, ff_expansion=2, kernel_size=15)
valid = SpeakerDataset(data, segment_len=None)
with torch.no_grad():                                      # warm-up: lazy allocations before the baseline
    model.eval()(valid[len(valid) - 1][0][None])
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 4 * 2**30, resource.RLIM_INFINITY))
accuracy = evaluate(model, valid, device="cpu")
paths, speakers = predict(model, data, valid.id2speaker, device="cpu")
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": (peak_kb - base_kb) / 1024, "max_frames": DEFAULT_MAX_FRAMES, "n": len(paths)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and limits the address space")
def test_full_length_evaluation_of_long_utterances_stays_in_the_stated_memory_bound(tmp_path):
    """The bound in coursekit.speaker_models' docstring: a batch's peak is at most
    8 * H * max(max_frames, L) * L bytes of attention, L its longest utterance, plus activations."""
    lengths = [7000, 5000, 4096, 2048, 2048, 900] + [540] * 6 + [148] * 4
    for i, n in enumerate(lengths):
        torch.save(torch.randn(n, 40, generator=torch.Generator().manual_seed(i)), tmp_path / f"uttr-{i:04d}.pt")
    entries = [{"feature_path": f"uttr-{i:04d}.pt", "mel_len": n} for i, n in enumerate(lengths)]
    (tmp_path / "mapping.json").write_text(json.dumps({"speaker2id": {"a": 0, "b": 1}, "id2speaker": {"0": "a", "1": "b"}}))
    (tmp_path / "metadata.json").write_text(json.dumps({"n_mels": 40, "speakers": {"a": entries[::2], "b": entries[1::2]}}))
    (tmp_path / "testdata.json").write_text(json.dumps({"n_mels": 40, "utterances": entries}))
    proc = subprocess.run([sys.executable, "-c", MEMORY_RUN, str(tmp_path),
                           str(ROOT / "solutions" / "hw4_speaker_id" / "hw4_speaker_id.py"), json.dumps(lengths)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    heads, longest = 2, max(lengths)
    attention = 8 * heads * max(out["max_frames"], longest) * longest / 2**20   # MiB: 748 for 7,000 frames
    print(f"peak RSS above baseline {out['peak_mb']:.0f} MiB; stated attention bound {attention:.0f} MiB")
    assert out["n"] == len(lengths)
    assert out["peak_mb"] <= 1.25 * attention + 64, (out, attention)


def test_hidden_answers_are_what_the_generator_wrote(tiny_data):
    _, answers, _ = tiny_data
    assert list(read_predictions(answers).items()) == hidden_answers(6, 10, seed=3)
    assert hidden_answers(6, 10, seed=3) != hidden_answers(6, 10, seed=4)


def test_collate_pad_and_mask_agree(tiny_data):
    data_dir, _, _ = tiny_data
    dataset = SpeakerDataset(data_dir, segment_len=None)
    mels, lengths, _ = collate_pad([dataset[0], dataset[1], dataset[2]])
    mask = lengths_to_mask(lengths, mels.size(1))
    assert bool((mels[~mask] == -20.0).all()) and bool((mels[mask] > -20.0).all())


def test_a_weight_snapshot_does_not_follow_later_updates():
    model = nn.Linear(3, 2)
    snap = snapshot_weights(model)
    live = model.state_dict()
    with torch.no_grad():
        model.weight.add_(1.0)
    assert torch.equal(live["weight"], model.weight)             # what a bare state_dict() would keep
    assert not torch.equal(snap["weight"], model.weight)
    assert torch.equal(snap["weight"] + 1.0, model.weight)
