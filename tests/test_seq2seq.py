"""coursekit.seq2seq: the date task, batches, metrics and the reference Transformer."""
import copy
import datetime

import pytest
import torch

from coursekit import seq2seq
from coursekit.seq2seq import (BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, Vocab, corpus_bleu, exact_match,
                               format_date, iterate_batches, make_batch, make_date_task, ordinal,
                               teacher_forcing_input, train)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and on a busy 2-core machine 2 threads can be 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def task():
    return make_date_task(n_train=2000, n_valid=200, n_test=200, seed=0)


def small_model(task, seed=0, **kw):
    torch.manual_seed(seed)
    args = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64,
                dropout=0.0, max_len=64)
    args.update(kw)
    return Seq2SeqTransformer(task.src_vocab, task.tgt_vocab, **args).eval()


def test_special_ids():
    assert (PAD_ID, BOS_ID, EOS_ID) == (0, 1, 2)
    v = Vocab.build(["abc"])
    assert v.itos[:3] == ["<pad>", "<bos>", "<eos>"]


def test_generation_is_deterministic_and_seeded():
    a, b = make_date_task(300, 50, 50, seed=3), make_date_task(300, 50, 50, seed=3)
    assert a.train == b.train and a.valid == b.valid and a.test == b.test
    c = make_date_task(300, 50, 50, seed=4)
    assert c.train != a.train and c.test != a.test
    assert len(a.train) == 300 and len(a.valid) == 50 and len(a.test) == 50


def test_splits_are_disjoint_by_date(task):
    dates = {name: {t for _, t in task.split(name)} for name in ("train", "valid", "test")}
    assert not dates["train"] & dates["test"]
    assert not dates["train"] & dates["valid"]
    assert not dates["valid"] & dates["test"]
    sources = {name: {s for s, _ in task.split(name)} for name in ("train", "test")}
    assert not sources["train"] & sources["test"]


def test_targets_are_iso_dates_of_the_sources(task):
    for src, tgt in task.train[:200] + task.test[:50]:
        assert datetime.date.fromisoformat(tgt).isoformat() == tgt
        assert 1950 <= int(tgt[:4]) <= 2049
    # every style, and known cases of the two-digit-year window and the separators
    rng = __import__("random").Random(0)
    d = datetime.date(2021, 3, 4)
    for style in seq2seq.STYLES:
        assert format_date(d, rng, style)
    assert format_date(d, rng, "iso") == "2021-03-04"
    assert format_date(d, rng, "compact") == "20210304"
    assert format_date(d, rng, "us_slash").split("/")[:2] in (["03", "04"], ["3", "4"])
    assert format_date(d, rng, "eu_dot").split(".")[:2] in (["04", "03"], ["4", "3"])
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_vocab_round_trip(task):
    for src, tgt in task.train[:100]:
        assert task.src_vocab.decode(task.src_vocab.encode(src)) == src
        ids = task.tgt_vocab.encode(tgt, add_bos=True, add_eos=True)
        assert ids[0] == BOS_ID and ids[-1] == EOS_ID
        assert task.tgt_vocab.decode(ids + [PAD_ID, 5]) == tgt      # stops at EOS
    assert task.tgt_vocab.decode(torch.tensor(task.tgt_vocab.encode("1999-12-31"))) == "1999-12-31"
    assert task.src_vocab.encode("é")[0] == seq2seq.UNK_ID
    assert len(task.tgt_vocab) == 4 + 11


def test_batch_shapes_padding_and_eos(task):
    pairs = [("3.3.21", "2021-03-03"), ("the 1st of may, 1999", "1999-05-01")]
    src, tgt = make_batch(pairs, task.src_vocab, task.tgt_vocab)
    assert src.shape == (2, 20) and src.dtype == torch.long
    assert tgt.shape == (2, 11) and tgt.dtype == torch.long
    assert (src[0, 6:] == PAD_ID).all() and (src[0, :6] != PAD_ID).all() and (src[1] != PAD_ID).all()
    assert (tgt[:, 10] == EOS_ID).all()
    assert task.tgt_vocab.decode(tgt[1]) == "1999-05-01"
    tf = teacher_forcing_input(tgt)
    assert tf.shape == tgt.shape and (tf[:, 0] == BOS_ID).all() and torch.equal(tf[:, 1:], tgt[:, :-1])
    src2, tgt2 = task.make_batch([("ab", "1-2"), ("abcd", "1")])
    assert tgt2.tolist()[1][1:] == [EOS_ID, PAD_ID, PAD_ID] and src2[0, 2:].eq(PAD_ID).all()


def test_iterate_batches_covers_every_pair_once_and_is_seeded(task):
    pairs = task.train[:300]
    seen = []
    for src, tgt in iterate_batches(pairs, task.src_vocab, task.tgt_vocab, batch_size=32, seed=1):
        assert src.shape[0] == tgt.shape[0] <= 32
        seen += [task.tgt_vocab.decode(t) for t in tgt]
    assert sorted(seen) == sorted(t for _, t in pairs)
    a = [t.tolist() for _, t in iterate_batches(pairs, task.src_vocab, task.tgt_vocab, 32, seed=1)]
    b = [t.tolist() for _, t in iterate_batches(pairs, task.src_vocab, task.tgt_vocab, 32, seed=1)]
    c = [t.tolist() for _, t in iterate_batches(pairs, task.src_vocab, task.tgt_vocab, 32, seed=2)]
    assert a == b and a != c
    plain = list(iterate_batches(pairs, task.src_vocab, task.tgt_vocab, 300, shuffle=False))
    assert len(plain) == 1 and task.tgt_vocab.decode(plain[0][1][0]) == pairs[0][1]


def test_exact_match():
    assert exact_match(["a", "b", "c", "d"], ["a", "b", "x", "d"]) == 0.75
    assert exact_match([], []) == 0.0
    with pytest.raises(ValueError):
        exact_match(["a"], ["a", "b"])


def test_corpus_bleu_uses_sacrebleu_on_characters():
    refs = ["2021-03-03", "1999-12-31", "1950-01-01"]
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    one_wrong = ["2021-03-03", "1999-12-30", "1950-01-01"]
    score = corpus_bleu(one_wrong, refs)
    assert 50.0 < score < 100.0                                  # partial credit for a wrong digit
    assert corpus_bleu(["0000-00-00"] * 3, refs) < score
    import sacrebleu
    expected = sacrebleu.corpus_bleu([" ".join(p) for p in one_wrong], [[" ".join(r) for r in refs]],
                                     tokenize="none").score
    assert score == pytest.approx(expected)
    assert corpus_bleu(["ab cd"], ["ab cd"]) == pytest.approx(100.0)   # spaces are tokens too
    assert corpus_bleu(["abcd"], ["ab cd"]) < 100.0
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"], level="word") == pytest.approx(100.0)


def test_model_shapes(task):
    model = small_model(task)
    src, tgt = task.make_batch(task.train[:5])
    memory = model.encode(src)
    assert memory.shape == (5, src.shape[1], 32)
    assert model._memory_pad_mask.shape == src.shape and model._memory_pad_mask.dtype == torch.bool
    logits = model.decode(teacher_forcing_input(tgt), memory)
    assert logits.shape == (5, tgt.shape[1], len(task.tgt_vocab))
    assert torch.allclose(model(src, teacher_forcing_input(tgt)), logits, atol=1e-6)
    pre = small_model(task, norm_first=True)
    assert pre(src, teacher_forcing_input(tgt)).shape == logits.shape
    copy.deepcopy(model)                                         # no graph kept on the model


def test_decode_is_causal(task):
    model = small_model(task)
    src, tgt = task.make_batch(task.train[:4])
    tgt_in = teacher_forcing_input(tgt)                          # (B, Lt)
    with torch.no_grad():
        memory = model.encode(src)
        base = model.decode(tgt_in, memory)
        for t in range(tgt_in.shape[1] - 1):
            changed = tgt_in.clone()
            changed[:, t + 1:] = torch.randint(3, len(task.tgt_vocab), changed[:, t + 1:].shape)
            out = model.decode(changed, memory)
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5), f"position {t} saw the future"
            assert not torch.allclose(out[:, t + 1:], base[:, t + 1:], atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_source_padding_does_not_change_real_positions(task, norm_first):
    model = small_model(task, norm_first=norm_first)
    pairs = [("3.3.21", "2021-03-03"), ("the 1st of may, 1999", "1999-05-01")]
    src, tgt = task.make_batch(pairs)                            # row 0 is padded
    tgt_in = teacher_forcing_input(tgt)
    with torch.no_grad():
        batched = model(src, tgt_in)                             # (2, Lt, V)
        alone_src, alone_tgt = task.make_batch(pairs[:1])        # no padding
        alone = model(alone_src, teacher_forcing_input(alone_tgt))
        mem_batched = model.encode(src)
        mem_alone = model.encode(alone_src)
        more_pad = torch.cat([src, torch.full((2, 7), PAD_ID)], dim=1)
        padded_more = model(more_pad, tgt_in)
    assert torch.allclose(batched[0], alone[0], atol=1e-5)
    assert torch.allclose(mem_batched[0, :6], mem_alone[0], atol=1e-5)
    assert torch.allclose(padded_more, batched, atol=1e-5)


def test_decode_accepts_rearranged_rows_of_the_last_memory(task):
    model = small_model(task)
    pairs = task.train[:4]
    src, tgt = task.make_batch(pairs)
    tgt_in = teacher_forcing_input(tgt)
    with torch.no_grad():
        memory = model.encode(src)
        full = model.decode(tgt_in, memory)
        rows = torch.tensor([2, 2, 0, 3, 3, 3])                  # beams, reordering, dropped row 1
        part = model.decode(tgt_in[rows], memory[rows])
        assert torch.allclose(part, full[rows], atol=1e-5)
        one = model.decode(tgt_in[1:2].expand(3, -1), memory[1:2].expand(3, -1, -1))
        assert torch.allclose(one, full[1:2].expand(3, -1, -1), atol=1e-5)
        model.encode(src[:2])                                    # a different source now
        with pytest.raises(ValueError, match="encode"):
            model.decode(tgt_in[2:], memory[2:])


def test_train_reduces_the_loss_and_prints_to_stdout(task, capsys):
    model = small_model(task)
    losses = train(model, task, steps=30, lr=3e-3, warmup=5, batch_size=32, log_every=10)
    out, err = capsys.readouterr()
    assert len(losses) == 30 and losses[-1] < losses[0]
    assert out.count("step") == 3 and err == ""
    assert not model.training
    batches = [task.make_batch(task.train[:16])]
    calls = []
    train(model, batches, steps=4, log_every=2, callback=lambda s, l: calls.append(s))
    assert calls == [2, 4]
