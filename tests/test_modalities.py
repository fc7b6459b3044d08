import pytest
import torch
from torch import nn

import xmlab as xm
from xmlab import modalities as M


class SensorEncoder(nn.Module):
    """A tiny 1-D CNN over (B, T) signals, the kind of encoder a user adds."""

    def __init__(self, out_dim: int):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        self.head = nn.Linear(8, out_dim)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(signal[:, None]).relu().mean(-1))  # (B, out_dim)


def standardise(signals: torch.Tensor) -> dict[str, torch.Tensor]:
    signals = torch.as_tensor(signals, dtype=torch.float32)
    return {"sensor": (signals - signals.mean(1, keepdim=True)) / signals.std(1, keepdim=True)}


@pytest.fixture
def sensor():
    M.register_modality("sensor", preprocess=standardise, encoder=SensorEncoder)
    yield M.get_modality("sensor")
    M.unregister_modality("sensor")


def test_builtin_modalities_are_registered():
    assert {"image", "text", "audio"} <= set(M.modality_names())
    assert M.get_modality("text").inputs == ("input_ids", "attention_mask")
    assert "CNN" in M.describe()["image"]


def test_builtin_preprocessing_gives_each_encoder_its_inputs():
    ds = xm.data.make_shapes(4)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    texts = M.preprocess("text", ds.captions, tokenizer=tok)
    images = M.preprocess("image", ds.images)
    torch.testing.assert_close(images["image"], xm.preprocess.normalize_images(ds.images))
    model = M.multi_encoder(
        ["image", "text"], width=16, embed_dim=8, options={"text": {"vocab_size": len(tok)}}
    )
    out = model({**images, **texts})
    assert out["image_emb"].shape == out["text_emb"].shape == (4, 8)
    audio = M.preprocess("audio", torch.randn(2, 4000))
    assert audio["audio"].shape[:2] == (2, 40)


def test_text_encoder_kind_is_chosen_by_name():
    assert isinstance(
        M.build_encoder("text", 8, vocab_size=10, kind="gru"), xm.encoders.GRUTextEncoder
    )
    with pytest.raises(ValueError, match="unknown text encoder kind 'lstm'"):
        M.build_encoder("text", 8, vocab_size=10, kind="lstm")


def test_a_new_modality_trains_with_the_unchanged_loss_fit_and_metrics(sensor):
    torch.manual_seed(0)
    labels = torch.arange(32) % 4
    t = torch.linspace(0, 6.28, 64)
    signals = torch.sin((labels[:, None] + 1) * t) + 0.1 * torch.randn(32, 64)
    batch = {**M.preprocess("sensor", signals), "label": labels}
    model = M.multi_encoder(["sensor"], width=16, embed_dim=8)
    model.encoders["other"] = SensorEncoder(16)  # a second view of the same signal
    model.heads["other"] = xm.encoders.ProjectionHead(16, 8)
    model.inputs["other"] = ("sensor",)

    def loss_fn(model, batch):
        out = model(batch)
        positives = xm.losses.positives_from_labels(batch["label"])
        return xm.losses.clip_loss(
            out["sensor_emb"], out["other_emb"], logit_scale=out["logit_scale"], positives=positives
        )

    config = xm.train.TrainConfig(epochs=1, lr=1e-2, progress=False, device="cpu")
    history = xm.train.fit(model, [batch] * 40, config=config, loss_fn=loss_fn)
    assert history.steps[-1]["loss"] < history.steps[0]["loss"]
    with torch.no_grad():
        out = model.eval()(batch)
    scores = xm.metrics.retrieval_metrics(out["sensor_emb"], out["other_emb"], groups=labels)
    assert scores["image_to_text_R@1"] > 0.9


def test_registry_errors_are_explained(sensor):
    with pytest.raises(KeyError, match="unknown modality 'smell'.*register_modality"):
        M.get_modality("smell")
    with pytest.raises(KeyError, match="unknown modality 'smell'"):
        M.multi_encoder(["smell"])
    with pytest.raises(ValueError, match="already registered"):
        M.register_modality("sensor", preprocess=standardise, encoder=SensorEncoder)
    with pytest.raises(ValueError, match="identifier"):
        M.register_modality("my sensor", preprocess=standardise, encoder=SensorEncoder)
    with pytest.raises(TypeError, match="callables"):
        M.register_modality("other", preprocess=None, encoder=SensorEncoder)
    with pytest.raises(ValueError, match="options given for"):
        M.multi_encoder(["sensor"], options={"text": {}})
    with pytest.raises(ValueError, match="distinct"):
        M.multi_encoder(["sensor", "sensor"])
    M.register_modality("bad", preprocess=lambda raw: {"x": raw}, encoder=SensorEncoder)
    try:
        with pytest.raises(ValueError, match=r"returned \['x'\] but its encoder reads \['bad'\]"):
            M.preprocess("bad", torch.zeros(2, 8))
    finally:
        M.unregister_modality("bad")
