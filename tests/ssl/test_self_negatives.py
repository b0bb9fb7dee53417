"""Queue keys of the query's own image are no negatives (SimCLR has no self pairs either:
tests/ssl/test_encoders.py::test_simclr_nt_xent_matches_hand_computation pins that)."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from thetascope.ssl.checkpoints import load_checkpoint, save_checkpoint
from thetascope.ssl.moco import MoCo
from thetascope.ssl.negatives import group_codes, self_negative_summary
from thetascope.ssl.pairs import pair_builder
from thetascope.ssl.train import TrainSettings, fill_queue, pretrain


def _tiny(K=12, **kw):
    torch.manual_seed(0)
    return MoCo("resnet18", dim=16, K=K, m=0.99, T=0.2, split_bn=2, **kw)


def _step_loss(model, x, r, ids, groups=None):
    """Per-query loss of one training step (the same key shuffle in every call)."""
    torch.manual_seed(5)
    logits, labels = model(x, r, ids, groups)
    return F.cross_entropy(logits, labels, reduction="none")


def _queue_with_own_keys(**kw):
    """A frozen queue whose entries 0 and 5 come from the batch's images 10 and 12."""
    model = _tiny(freeze_queue=True, **kw)
    ids = torch.full((12,), -1)
    ids[0], ids[5], ids[7] = 10, 12, 99
    model.queue_ids.copy_(ids)
    model.queue_groups.copy_(torch.where(ids >= 0, ids, -1))
    return model


def _without(model, col):
    """A copy of ``model`` whose queue lacks entry ``col``."""
    out = copy.deepcopy(model)
    keep = torch.tensor([j for j in range(model.K) if j != col])
    out.queue, out.queue_ids = model.queue[:, keep].clone(), model.queue_ids[keep].clone()
    out.queue_groups, out.K = model.queue_groups[keep].clone(), model.K - 1
    return out


@pytest.fixture
def float64():
    """Gradients are compared in float64: in float32 two sums of different lengths round
    differently, and a ResNet's backward amplifies that to ~1e-3."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_a_masked_self_negative_gives_the_loss_of_a_queue_without_it(float64):
    """Query 0 (image 10) and query 2 (image 12) each find an older key of their own image
    in the queue: their step losses and gradients equal those of the same step with that
    key removed; queries 1 and 3 are untouched."""
    x, r = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    ids = torch.tensor([10, 11, 12, 13])
    masked = _queue_with_own_keys()
    plain = _queue_with_own_keys(mask_self_negatives=False)
    refs = {0: _without(plain, 0), 2: _without(plain, 5)}
    loss = _step_loss(masked, x, r, ids)
    unmasked = _step_loss(plain, x, r, ids)
    for row, ref in refs.items():
        want = _step_loss(ref, x, r, ids)[row]
        assert_close(loss[row], want, rtol=1e-12, atol=1e-12)
        assert not torch.allclose(unmasked[row], want)  # the unmasked key did count
        g_masked = torch.autograd.grad(loss[row], list(masked.encoder_q.parameters()),
                                       retain_graph=True)
        g_ref = torch.autograd.grad(want, list(ref.encoder_q.parameters()))
        for a, b in zip(g_masked, g_ref, strict=True):
            assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert_close(loss[[1, 3]], unmasked[[1, 3]])
    # counted either way: 4 queries, 2 of them (images 10 and 12) met their own key
    assert masked.self_negatives.tolist()[:2] == plain.self_negatives.tolist()[:2] == [4, 2]


def test_a_same_group_key_of_another_image_is_counted_not_masked():
    x, r = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    ids, groups = torch.tensor([20, 21, 22, 23]), torch.tensor([7, 7, 8, 8])
    model = _queue_with_own_keys()
    model.queue_groups.fill_(-1)
    model.queue_groups[3] = 7  # a slice of the volume of images 20 and 21
    ungrouped = _queue_with_own_keys()
    ungrouped.queue_groups.fill_(-1)
    assert_close(_step_loss(model, x, r, ids, groups),
                 _step_loss(ungrouped, x, r, ids, groups))
    assert model.self_negatives.tolist() == [4, 0, 2]
    summary = self_negative_summary(model.self_negatives, masked=True)
    assert summary["self_negative_share"] == 0.0
    assert summary["same_group_negative_share"] == 0.5
    assert group_codes(["b", "a", "b", "c"]).tolist() == [0, 1, 0, 2]


def test_enqueued_keys_and_the_data_initialised_queue_record_their_images():
    images = torch.rand(24, 3, 32, 32)
    pair = pair_builder("fixed-theta", 45.0)
    model = _tiny(K=16)
    groups = torch.arange(24) // 3
    fill_queue(model, images, pair, torch.Generator().manual_seed(3), torch.device("cpu"),
               groups)
    want = torch.randperm(24, generator=torch.Generator().manual_seed(3))[:16]
    assert torch.equal(model.queue_ids, want)
    assert torch.equal(model.queue_groups, want // 3)
    model._dequeue_and_enqueue(F.normalize(torch.randn(8, 16), dim=1), torch.arange(8) + 100,
                               torch.full((8,), 5))
    assert model.queue_ids[:8].tolist() == list(range(100, 108))
    assert model.queue_groups[:8].tolist() == [5] * 8 and int(model.queue_ptr) == 8


def _images():
    from thetascope.data.phantoms import generate

    images, _ = generate("phantom-polyp", count=24, size=32, seed=0)
    return torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1)


def test_the_mask_survives_save_and_resume():
    """runtime.checkpoint_every's path: resuming from a saved training state gives the
    uninterrupted run's losses, queue sources and counts (the sources are saved with it)."""
    x, pair = _images(), pair_builder("fixed-theta", 90.0)
    settings = TrainSettings(steps=8, batch_size=8, lr=0.05, precision="fp32")
    states: list[dict] = []
    full = _tiny(K=16)
    want = pretrain(full, x, pair, settings, seed=1, checkpoint_every=3,
                    on_checkpoint=states.append)
    mid = states[0]
    assert mid["step"] == 3 and (mid["model"]["queue_ids"] >= 0).all()
    assert full.self_negatives[1] > mid["model"]["self_negatives"][1] > 0  # before and after
    resumed = _tiny(K=16)
    got = pretrain(resumed, x, pair, settings, seed=1, resume=mid)
    assert got == want
    for name in ("queue_ids", "queue_groups", "self_negatives", "queue"):
        assert torch.equal(getattr(resumed, name), getattr(full, name)), name
    # the same state without its sources (ids unknown) trains differently: they matter
    blind = copy.deepcopy(mid)
    blind["model"]["queue_ids"].fill_(-1)
    assert pretrain(_tiny(K=16), x, pair, settings, seed=1, resume=blind) != want


def test_queue_sources_survive_a_checkpoint_file_and_old_files_load(tmp_path):
    model = _tiny(K=8)
    model(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32), torch.tensor([3, 1, 4, 1]))
    save_checkpoint(tmp_path / "m.pt", model, {})
    state, _ = load_checkpoint(tmp_path / "m.pt")
    fresh = _tiny(K=8)
    fresh.load_state_dict(state)
    assert fresh.queue_ids[:4].tolist() == [3, 1, 4, 1]
    assert torch.equal(fresh.self_negatives, model.self_negatives)
    old = {k: v for k, v in state.items()
           if k not in ("queue_ids", "queue_groups", "self_negatives")}
    fresh.load_state_dict(old)  # a checkpoint from before the sources: unknown, no error
    assert (fresh.queue_ids == -1).all() and int(fresh.self_negatives.sum()) == 0


def test_symmetric_loss_is_the_mean_of_both_directions_and_enqueues_both_keys():
    x, r = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    ids = torch.tensor([0, 1, 2, 3])
    sym = _tiny(K=16, symmetric=True)
    sym.m = 1.0  # no key-encoder update between the two directions below
    one_way = copy.deepcopy(sym)
    one_way.symmetric, one_way.freeze_queue = False, True
    for md in (sym, one_way):
        md.eval()  # per-sample BN: the key shuffle cannot matter
    logits, labels = sym(x, r, ids)
    assert logits.shape == (8, 17)
    both = [F.cross_entropy(*one_way(a, b, ids)) for a, b in ((x, r), (r, x))]
    assert_close(F.cross_entropy(logits, labels), (both[0] + both[1]) / 2)
    assert sym.queue_ids[:8].tolist() == [0, 1, 2, 3] * 2 and int(sym.queue_ptr) == 8
    with torch.no_grad():  # k(rot x) first, then k(x)
        assert_close(sym.queue[:, :4].T, F.normalize(sym.encoder_k(r), dim=1))
        assert_close(sym.queue[:, 4:8].T, F.normalize(sym.encoder_k(x), dim=1))


def test_symmetric_training_runs_and_masks_both_terms():
    x, pair = _images(), pair_builder("fixed-theta", 90.0)
    model = _tiny(K=8, symmetric=True)
    settings = TrainSettings(steps=4, batch_size=8, precision="fp32")
    losses = pretrain(model, x, pair, settings, seed=0)
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    n, own, _ = model.self_negatives.tolist()
    assert n == 2 * 4 * 8 and own > 0


@pytest.mark.parametrize("symmetric", [False, True])
def test_stacked_training_masks_like_pretrain(symmetric, float64):
    """The fused θ path masks (and counts) exactly as one model at a time does, with
    either loss."""
    from thetascope.ssl.stacked import pretrain_stacked

    x = _images().double()[..., ::2, ::2]  # 16 px: float64 convolutions are slow
    settings = TrainSettings(steps=3, batch_size=8, lr=0.05, precision="fp32")
    seq = _tiny(K=16, symmetric=symmetric)
    want = pretrain(seq, x, pair_builder("fixed-theta", 90.0), settings, seed=2)
    fused = [_tiny(K=16, symmetric=symmetric) for _ in range(2)]
    got = pretrain_stacked(fused, x, [0.0, 90.0], settings, seed=2)[1]
    assert_close(torch.tensor(got), torch.tensor(want), rtol=1e-6, atol=1e-6)
    assert torch.equal(fused[1].self_negatives, seq.self_negatives)
    assert torch.equal(fused[1].queue_ids, seq.queue_ids)
    assert seq.self_negatives[1] > 0
