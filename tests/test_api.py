"""load_encoder / export_encoder / FrozenEncoder: round trips, freezing and every bad file."""

from __future__ import annotations

import pytest
import torch
from eval_helpers import SPEC, clips, tiny_encoder, write_checkpoint

import ssl_skel
from ssl_skel.evaluation.api import CheckpointError, FrozenEncoder, export_encoder, load_encoder


@pytest.fixture()
def ckpt(tmp_path):
    enc = tiny_encoder(seed=3)
    return write_checkpoint(tmp_path / "last.pt", enc), enc


def test_round_trip_gives_identical_embeddings(ckpt):
    path, enc = ckpt
    enc.eval()
    x = clips(3)
    frozen = ssl_skel.load_encoder(path)
    assert isinstance(frozen, FrozenEncoder)
    with torch.no_grad():
        expected = enc(x, "fused")
    assert torch.equal(frozen.embed(x), expected)
    assert torch.equal(frozen.embed(x, modality="bone"), enc(x, "bone").detach())
    assert frozen.dim == enc.dim == 64
    assert frozen.layout == "ntu25"
    assert frozen.modalities == ("fused", "joint", "bone", "motion")
    assert frozen.spec == SPEC


def test_frozen_stays_frozen_under_parent_train(ckpt):
    frozen = load_encoder(ckpt[0])
    parent = torch.nn.Sequential(frozen)
    parent.train()
    assert not frozen.training and not frozen.encoder.training
    assert all(not m.training for m in frozen.modules())
    assert all(not p.requires_grad for p in frozen.parameters())
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    frozen.embed(clips(5))
    after = frozen.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bad_input_shape_names_expectation(ckpt):
    frozen = load_encoder(ckpt[0])
    with pytest.raises(ValueError, match=r"C=3 channels, V=25 joints \(ntu25\), M=2 persons; got C=2"):
        frozen.embed(torch.zeros(1, 2, 16, 25, 2))
    with pytest.raises(ValueError, match="5-d tensor"):
        frozen.embed(torch.zeros(2, 16, 25, 2))
    with pytest.raises(ValueError, match="not 'rgb'"):
        frozen.embed(clips(1), modality="rgb")


def test_export_is_small_and_loads_to_same_embeddings(ckpt, tmp_path):
    path, _ = ckpt
    out = export_encoder(path, tmp_path / "enc.pt")
    payload = torch.load(out, weights_only=True)
    assert payload["kind"] == "encoder"
    assert "optimizer" not in payload and "queue" not in payload["model"]
    assert all(k.startswith("encoder.") for k in payload["model"])
    x = clips(2)
    assert torch.equal(load_encoder(out).embed(x), load_encoder(path).embed(x))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: checkpoint not found"):
        load_encoder(tmp_path / "nope.pt")


def test_truncated_file(ckpt, tmp_path):
    data = ckpt[0].read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"trunc\.pt: truncated or corrupt"):
        load_encoder(bad)


def test_garbage_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a checkpoint file"):
        load_encoder(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(CheckpointError, match="not an ssl_skel checkpoint"):
        load_encoder(foreign)


def test_pickled_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ssl_skel/checkpoint", "obj": FrozenEncoder}, evil)
    with pytest.raises(CheckpointError, match="holds Python objects other than tensors"):
        load_encoder(evil)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    enc = tiny_encoder()
    path = write_checkpoint(tmp_path / "a.pt", enc, extra_model={"encoder.extra.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"unexpected keys: extra\.weight"):
        load_encoder(path)
    payload = torch.load(path, weights_only=True)
    del payload["model"]["encoder.extra.weight"]
    first = next(k for k in payload["model"] if k.startswith("encoder."))
    del payload["model"][first]
    torch.save(payload, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=f"missing keys: {first[len('encoder.') :]}"):
        load_encoder(tmp_path / "b.pt")


def test_shape_mismatch_and_missing_encoder_entry(tmp_path):
    enc = tiny_encoder()
    path = write_checkpoint(tmp_path / "a.pt", enc)
    payload = torch.load(path, weights_only=True)
    payload["encoder"]["params"]["hidden_size"] = 16  # weights were made with 32
    torch.save(payload, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_encoder(tmp_path / "b.pt")
    del payload["encoder"]
    torch.save(payload, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="no 'encoder' entry"):
        load_encoder(tmp_path / "c.pt")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_encoder(tmp_path)


def test_feature_cache_is_read_back(ckpt, tmp_path):
    import numpy as np

    from ssl_skel.evaluation.features import cache_key, extract_features

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"views": [clips(1, seed=i)[0]], "label": i % 2, "index": i}

    frozen = load_encoder(ckpt[0])
    key = cache_key(ckpt[0], {"root": str(tmp_path), "part": "test"}, ["fused", "bone"])
    first = extract_features(
        frozen, Clips(), ["fused", "bone"], batch_size=2, cache_dir=tmp_path / "c", key=key, progress=False
    )
    assert first.embeddings["fused"].shape == (5, 64) and first.labels.tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(
        first.embeddings["bone"][3], frozen.embed(clips(1, seed=3), "bone")[0].numpy(), rtol=1e-5, atol=1e-6
    )

    class Broken:
        dim = 64

        def embed_modalities(self, x, names):
            raise AssertionError("cache not used")

    again = extract_features(Broken(), Clips(), ["fused", "bone"], cache_dir=tmp_path / "c", key=key, progress=False)
    np.testing.assert_array_equal(again.embeddings["fused"], first.embeddings["fused"])
    other = write_checkpoint(tmp_path / "other.pt", tiny_encoder(seed=9))
    assert cache_key(other, {"root": str(tmp_path), "part": "test"}, ["fused", "bone"]) != key
    assert cache_key(ckpt[0], {"root": str(tmp_path), "part": "train"}, ["fused", "bone"]) != key
