"""Bad inputs to step 2, joint learning: encoders, losses, fusion and the modality registry.

Each case says what must be raised and what its message must say (see ``bad_inputs.py``).
"""

import torch
from bad_inputs import case, check, table
from torch import nn

import xmlab as xm
from xmlab import modalities as reg
from xmlab.losses import clip_loss, info_nce, positives_from_labels, siglip_loss, triplet_loss

torch.manual_seed(0)
DUAL = xm.encoders.shapes_dual_encoder(10, image_size=16, embed_dim=8, width=16)
TEXT = xm.encoders.TextEncoder(10, 16, max_length=8)
IDS = torch.randint(4, 10, (2, 5))
MASK = torch.ones(2, 5, dtype=torch.bool)
PIXELS = torch.randn(2, 3, 16, 16)
A = nn.functional.normalize(torch.randn(4, 8), dim=1)
B = nn.functional.normalize(torch.randn(4, 8), dim=1)
NAN = torch.full((4, 8), float("nan"))
MULTI = xm.modalities.multi_encoder(["image", "text"], width=16, embed_dim=8,
                                    options={"text": {"vocab_size": 10}})  # fmt: skip
FEATURES = {"image": torch.randn(2, 4), "audio": torch.randn(2, 4)}


def fuse(method="early", features=FEATURES, **options):
    return xm.fusion.make_fusion(method, {"image": 4, "audio": 4}, 3, **options)(features)


class Ignores(nn.Module):
    """An encoder that ignores ``out_dim``: always 7 features."""

    def __init__(self, out_dim):
        super().__init__()
        self.layer = nn.Linear(3, 7)

    def forward(self, x):
        return self.layer(x)


class Sequence(nn.Module):
    """An encoder that returns one vector per time step, (B, T, out_dim)."""

    def __init__(self, out_dim):
        super().__init__()
        self.layer = nn.Linear(3, out_dim)

    def forward(self, x):
        return self.layer(x)[:, None, :].expand(-1, 5, -1)


def with_sensor(encoder, run=lambda m: m({"sensor": torch.randn(2, 3)}), **registration):
    """Register a "sensor" modality with ``encoder``, build a model and run it."""
    reg.register_modality("sensor", preprocess=lambda x: {"sensor": x}, encoder=encoder,
                          replace=True, **registration)  # fmt: skip
    try:
        return run(reg.multi_encoder(["sensor"], width=16, embed_dim=8))
    finally:
        reg.unregister_modality("sensor")


def preprocess_with(fn):
    reg.register_modality("sensor", preprocess=fn, encoder=Sequence, replace=True)
    try:
        return reg.preprocess("sensor", torch.randn(2, 3))
    finally:
        reg.unregister_modality("sensor")


CASES = [
    # --- encoders --------------------------------------------------------------------------
    case("encoders/other-image-size", lambda: DUAL(torch.randn(2, 3, 32, 32), IDS, MASK),
         ValueError, r"\(B, 3, 16, 16\)", r"\(2, 3, 32, 32\)", r"image_size=32 or resize"),
    case("encoders/grey-images", lambda: DUAL(torch.randn(2, 1, 16, 16), IDS, MASK),
         ValueError, r"\(B, 3, 16, 16\)", r"\(2, 1, 16, 16\)", r"resize"),
    case("encoders/uint8-images",
         lambda: DUAL(torch.zeros(2, 3, 16, 16, dtype=torch.uint8), IDS, MASK),
         ValueError, r"normalised float images", r"torch\.uint8", r"normalize_images"),
    case("encoders/one-image", lambda: DUAL(torch.randn(3, 16, 16), IDS, MASK),
         ValueError, r"\(B, C, H, W\)", r"\(3, 16, 16\)", r"normalize_images"),
    case("encoders/ids-outside-the-vocabulary", lambda: DUAL(PIXELS, IDS + 20, MASK),
         ValueError, r"lie in 0\.\.9", r"ids from 2\d to 29", r"vocab_size=len\(tokenizer\)"),
    case("encoders/negative-ids", lambda: TEXT(IDS - 9, MASK),
         ValueError, r"lie in 0\.\.9", r"from -\d", r"vocab_size=len\(tokenizer\)"),
    case("encoders/float-ids", lambda: DUAL(PIXELS, IDS.float(), MASK),
         TypeError, r"integer token ids", r"torch\.float32", r"torch\.long"),
    case("encoders/mask-of-another-shape", lambda: DUAL(PIXELS, IDS, MASK[:, :3]),
         ValueError, r"shaped \(B, L\)", r"\(2, 5\) and \(2, 3\)", r"dict a WordTokenizer returns"),
    case("encoders/caption-without-tokens",
         lambda: TEXT(IDS, MASK & torch.tensor([[True], [False]])),
         ValueError, r"non-empty", r"all False", r"every caption must be"),
    case("encoders/text-too-long", lambda: TEXT(torch.randint(4, 10, (2, 9)), torch.ones(2, 9)),
         ValueError, r"max_length 8", r"texts of 9 tokens", r"larger one"),
    case("encoders/no-vocabulary", lambda: xm.encoders.shapes_dual_encoder(0),
         ValueError, r"at least 1", r"got 0", r"len\(tokenizer\)"),
    case("encoders/head-of-another-width", lambda: xm.encoders.ProjectionHead(8, 4)(A[:, :5]),
         ValueError, r"features of size 8", r"\(4, 5\)", r"width of the encoder"),
    case("encoders/waveforms-for-spectrograms",
         lambda: xm.encoders.AudioEncoder(16)(torch.randn(2, 800)),
         ValueError, r"spectrogram", r"\(2, 800\)", r"log_mel"),
    case("encoders/batch-counts-differ",
         lambda: DUAL(PIXELS, torch.randint(4, 10, (3, 5)), torch.ones(3, 5)),
         ValueError, r"exactly one caption", r"2 items but caption batch has 3", r"every image"),
    case("encoders/modality-it-lacks", lambda: MULTI.encode("audio", torch.randn(2, 40, 20)),
         KeyError, r"encodes image, text", r"no 'audio' encoder", r"build it with that modality"),
    case("encoders/input-missing", lambda: MULTI({"image": torch.randn(2, 3, 32, 32)}),
         KeyError, r"for the 'text' encoder", r"no \['input_ids', 'attention_mask'\]",
         r"only=\[\.\.\.\]"),
    # --- losses ----------------------------------------------------------------------------
    case("losses/clip-batch-of-one", lambda: clip_loss(A[:1], B[:1], logit_scale=1.0),
         ValueError, r"at least 2 pairs", r"got 1", r"larger\s+batch_size.*drop_last=True"),
    case("losses/clip-empty-batch", lambda: clip_loss(A[:0], B[:0], logit_scale=1.0),
         ValueError, r"at least 2", r"empty batch \(0 pairs", r"check the loader"),
    case("losses/siglip-empty-batch",
         lambda: siglip_loss(A[:0], B[:0], logit_scale=1.0, logit_bias=0.0),
         ValueError, r"at least 1", r"empty batch \(0 pairs", r"check the loader"),
    case("losses/triplet-batch-of-one", lambda: triplet_loss(A[:1], B[:1]),
         ValueError, r"at least 2 pairs", r"got 1", r"drop_last=True"),
    case("losses/one-dimensional", lambda: clip_loss(A[0], B[0], logit_scale=1.0),
         ValueError, r"shaped \(N, D\)", r"got \(8,\)", r"2-D tensor"),
    case("losses/counts-differ", lambda: clip_loss(A, B[:3], logit_scale=1.0),
         ValueError, r"exactly one text", r"4 items but text batch has 3", r"every image needs"),
    case("losses/widths-differ", lambda: clip_loss(A, B[:, :5], logit_scale=1.0),
         ValueError, r"same shared space", r"8 dimensions but text embeddings have 5",
         r"embed both"),
    case("losses/nan-embeddings", lambda: clip_loss(A, NAN, logit_scale=1.0),
         ValueError, r"finite numbers", r"text embeddings contain NaN.*nan at index \(0, 0\)",
         r"lower the learning rate"),
    case("losses/siglip-nan-embeddings",
         lambda: siglip_loss(NAN, B, logit_scale=1.0, logit_bias=0.0),
         ValueError, r"finite numbers", r"image embeddings contain NaN", r"check the inputs"),
    case("losses/triplet-nan-embeddings", lambda: triplet_loss(A, NAN),
         ValueError, r"finite numbers", r"text embeddings contain NaN", r"check the inputs"),
    case("losses/overflowing-scale", lambda: clip_loss(A, B, logit_scale=1e39),
         ValueError, r"expected a finite number", r"clip_loss is nan", r"lower logit_scale"),
    case("losses/scale-vector", lambda: clip_loss(A, B, logit_scale=torch.ones(3)),
         ValueError, r"must be a scalar", r"shape \(3,\)", r"pass one number"),
    case("losses/scale-text", lambda: clip_loss(A, B, logit_scale="10"),
         TypeError, r"must be a number", r"got str", r"pass one number"),
    case("losses/negative-scale", lambda: clip_loss(A, B, logit_scale=-14.0),
         ValueError, r"above 0", r"got -14\.0", r"logit_scale\.exp\(\)"),
    case("losses/integer-embeddings",
         lambda: clip_loss(torch.ones(4, 8, dtype=torch.long), B, logit_scale=1.0),
         TypeError, r"as floats", r"torch\.int64", r"\.float\(\)"),
    case("losses/siglip-bias-vector",
         lambda: siglip_loss(A, B, logit_scale=1.0, logit_bias=torch.zeros(3)),
         ValueError, r"must be a scalar", r"shape \(3,\)", r"pass one number"),
    case("losses/positives-of-another-shape",
         lambda: clip_loss(A, B, logit_scale=1.0, positives=torch.ones(3, 3, dtype=torch.bool)),
         ValueError, r"\(4, 4\) mask", r"got \(3, 3\)", r"positives_from_labels"),
    case("losses/positives-off-the-diagonal",
         lambda: clip_loss(A, B, logit_scale=1.0, positives=torch.zeros(4, 4, dtype=torch.bool)),
         ValueError, r"True on the diagonal", r"False there", r"positives_from_labels"),
    case("losses/labels-as-text", lambda: positives_from_labels(["cat", "dog"]),
         TypeError, r"integer ids", r"strings \(\['cat', 'dog'\]\)", r"group_ids\(texts\)"),
    case("losses/fractional-labels", lambda: positives_from_labels(torch.tensor([0.5, 0.7])),
         TypeError, r"integer ids", r"fractional numbers \(\[0\.5, 0\.7", r"class ids such as"),
    case("losses/labels-as-matrix", lambda: positives_from_labels(torch.zeros(2, 2)),
         ValueError, r"one id per item, shaped \(N,\)", r"got \(2, 2\)", r"one id per item"),
    case("losses/negative-margin", lambda: triplet_loss(A, B, margin=-0.2),
         ValueError, r"at least 0", r"-0\.2", r"try 0\.2"),
    case("losses/info-nce-vector", lambda: info_nce(torch.randn(4)),
         ValueError, r"\(B, N\)", r"got \(4,\)", r"one row each"),
    case("losses/info-nce-offset", lambda: info_nce(torch.randn(2, 4), offset=3),
         ValueError, r"columns offset \.\. offset \+ B - 1", r"offset 3", r"rank x B"),
    case("losses/cca-one-item", lambda: xm.losses.cca_loss(A[:1], B[:1]),
         ValueError, r"at least 2 items", r"got 1", r"more rows"),
    case("losses/cca-k", lambda: xm.losses.cca_loss(A, B, k=20),
         ValueError, r"between 1 and 8", r"got 20", r"None for all"),
    # --- fusion ----------------------------------------------------------------------------
    case("fusion/unknown-method", lambda: fuse("mid"),
         ValueError, r"expected one of early, late", r"'mid'", r"fusion method='early'"),
    case("fusion/missing-modality", lambda: fuse(features={"image": torch.randn(2, 4)}),
         ValueError, r"fuses \['audio', 'image'\]", r"'audio' is missing", r"pass every modality"),
    case("fusion/features-of-another-width",
         lambda: fuse(features={**FEATURES, "audio": torch.randn(2, 6)}),
         ValueError, r"\(B, 4\) or \(B, T, 4\)", r"got \(2, 6\)", r"audio encoder's output"),
    case("fusion/not-a-dict", lambda: fuse(features=torch.randn(2, 8)),
         TypeError, r"dict of features", r"got Tensor", r"\{modality: tensor"),
    case("fusion/batch-sizes-differ",
         lambda: fuse("gated", features={**FEATURES, "audio": torch.randn(3, 4)}),
         ValueError, r"one size", r"'image': 2, 'audio': 3", r"batch them together"),
    case("fusion/no-classes", lambda: xm.fusion.make_fusion("early", {"image": 4}, 0),
         ValueError, r"out_dim must be an integer at least 1", r"got 0", r"class count"),
    case("fusion/negative-width", lambda: xm.fusion.make_fusion("early", {"image": -4}, 3),
         ValueError, r"at least 1", r"got -4", r"feature size"),
    case("fusion/rank-zero", lambda: fuse("low_rank", rank=0),
         ValueError, r"rank must be an integer at least 1", r"got 0", r"rank=4"),
    case("fusion/no-modalities", lambda: xm.fusion.make_fusion("early", {}, 3),
         ValueError, r"dict of modality -> feature size", r"got \{\}", r"\{\"image\": 64"),
    case("fusion/batch-without-labels",
         lambda: xm.train.classification_loss(lambda b: b, {"image": PIXELS}),
         ValueError, r"needs \['label'\]", r"no 'label'", r"batch\['label'\]"),
    # --- the modality registry -------------------------------------------------------------
    case("registry/name-with-a-space",
         lambda: reg.register_modality("my sensor", preprocess=dict, encoder=Sequence),
         ValueError, r"identifier like 'sensor'", r"'my sensor'", r"letters, digits"),
    case("registry/name-taken",
         lambda: reg.register_modality("image", preprocess=dict, encoder=Sequence),
         ValueError, r"expected a new name", r"'image' is already registered", r"replace=True"),
    case("registry/not-callable",
         lambda: reg.register_modality("sensor", preprocess=3, encoder=Sequence),
         TypeError, r"must be callables", r"got int and type", r"a function or a class"),
    case("registry/unknown", lambda: reg.get_modality("smell"),
         KeyError, r"registered are image, text, audio", r"unknown modality 'smell'",
         r"register_modality"),
    case("registry/inputs-as-one-string", lambda: with_sensor(Sequence, inputs="sensor"),
         TypeError, r"list of batch keys", r"got 'sensor'", r"inputs=\('sensor',\)"),
    case("registry/preprocess-returns-a-list", lambda: preprocess_with(lambda x: [x]),
         TypeError, r"dict of tensors with the keys \['sensor'\]", r"returned list",
         r"return \{key: tensor"),
    case("registry/preprocess-misses-a-key", lambda: preprocess_with(lambda x: {"other": x}),
         ValueError, r"encoder reads \['sensor'\]", r"returned \['other'\]",
         r"dict with those keys"),
    case("registry/encoder-ignores-out-dim", lambda: with_sensor(Ignores),
         ValueError, r"expected \(B, 16\) features", r"returned shape \(2, 7\)", r"out_dim=16"),
    case("registry/encoder-returns-a-sequence", lambda: with_sensor(Sequence),
         ValueError, r"expected \(B, 16\)", r"returned shape \(2, 5, 16\)", r"\(B, out_dim\)"),
    case("registry/factory-returns-no-module", lambda: with_sensor(lambda out_dim: out_dim),
         TypeError, r"expected an nn\.Module", r"returned int", r"register a module class"),
    case("registry/names-as-one-string", lambda: reg.multi_encoder("image"),
         ValueError, r"list of distinct modality names", r"got 'image'", r"\['image', 'text'\]"),
    case("registry/names-repeated", lambda: reg.multi_encoder(["image", "image"]),
         ValueError, r"distinct modality names", r"\['image', 'image'\]", r"e\.g\."),
    case("registry/options-for-another-modality",
         lambda: reg.multi_encoder(["image"], options={"text": {}}),
         ValueError, r"not among \['image'\]", r"options given for \['text'\]",
         r"key the options"),
    case("registry/unknown-text-encoder",
         lambda: reg.build_encoder("text", 8, vocab_size=10, kind="lstm"),
         ValueError, r"expected one of transformer, gru", r"'lstm'", r"kind='transformer'"),
]  # fmt: skip


@table(CASES)
def test_bad_input_gets_a_clear_error(bad):
    check(bad)


def test_a_siglip_batch_of_one_still_learns():
    """Documented behaviour: SigLIP scores each pair on its own, so one pair is a valid (if
    weak) batch: its loss and gradient are not zero, unlike CLIP's softmax over one item."""
    a, b = A[:1].clone().requires_grad_(), B[:1].clone().requires_grad_()
    loss = siglip_loss(a, b, logit_scale=10.0, logit_bias=-10.0)
    loss.backward()
    assert loss > 0 and a.grad.abs().sum() > 0
