"""Bad inputs to step 3, optimisation: settings, loaders, losses, gradients and checkpoints.

Each case says what must be raised and what its message must say (see ``bad_inputs.py``).
"""

import tempfile
from pathlib import Path

import torch
from bad_inputs import case, check, table

import xmlab as xm
from xmlab.train import CheckpointError, TrainConfig, fit

DATA = xm.data.make_shapes(8, seed=0, image_size=16)
TOK = xm.preprocess.WordTokenizer.build(DATA.captions)
BATCHES = xm.data.encode_pairs(DATA, TOK)


def model():
    torch.manual_seed(0)
    return xm.encoders.shapes_dual_encoder(len(TOK), image_size=16, embed_dim=8, width=16)


def loader(n=8, batch_size=4, drop_last=False):
    return xm.data.TensorLoader({k: v[:n] for k, v in BATCHES.items()},
                                batch_size=batch_size, drop_last=drop_last)  # fmt: skip


def train(data=None, *, loss_fn=xm.train.contrastive_loss, net=None, callbacks=(), eval_fn=None,
          **settings):  # fmt: skip
    """Two epochs of fit on 8 scenes (batches of 4), without a progress bar."""
    config = TrainConfig(**{"epochs": 2, "progress": False, **settings})
    return fit(net or model(), loader() if data is None else data, config=config,
               loss_fn=loss_fn, callbacks=callbacks, eval_fn=eval_fn)  # fmt: skip


def embeddings_loss(transform):
    """CLIP's loss on ``transform(image_emb)``: a way to break the gradient on purpose."""

    def loss_fn(m, batch):
        out = m(batch["image"], batch["input_ids"], batch["attention_mask"])
        img = transform(out["image_emb"])
        return xm.losses.clip_loss(img, out["text_emb"], logit_scale=out["logit_scale"])

    return loss_fn


def sqrt_of_zero(img):
    return img + 0 * torch.sqrt(img.sum() * 0)  # finite value, NaN gradient (0 * inf)


class Poison(xm.train.Callback):
    """Sets a weight to NaN after the step: what a too-large step does."""

    def on_step(self, row, model):
        with torch.no_grad():
            model.image_proj.net.weight[0, 0] = float("nan")


def folder() -> Path:
    return Path(tempfile.mkdtemp())


def saved(**parts) -> Path:
    path = folder() / "model.pt"
    xm.checkpoint.save_checkpoint(path, model=model(), **parts)
    return path


def damaged(change) -> Path:
    path = saved()
    path.write_bytes(change(path.read_bytes()))
    return path


def flip_in_the_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def nan_weights_without_checksums() -> Path:
    state = {k: v.clone() for k, v in model().state_dict().items()}
    state["image_proj.net.weight"][0, 0] = float("nan")
    path = folder() / "old.pt"
    torch.save({"format": xm.checkpoint.FORMAT, "model": state}, path)  # by hand, no checks
    return path


class Pickled:
    """Not a tensor: a safe loader refuses to run the code a pickle of it would need."""


def load(path):
    return xm.checkpoint.load_checkpoint(path, model())


def resume_with_sgd():
    path = folder() / "model.pt"
    train(epochs=1, checkpoint=str(path))
    train(optimizer="sgd", resume=str(path))


def save_nan_weights():
    bad = model()
    with torch.no_grad():
        bad.text_proj.net.bias.fill_(float("inf"))
    xm.checkpoint.save_checkpoint(folder() / "model.pt", model=bad)


CASES = [
    # --- settings --------------------------------------------------------------------------
    case("train/lr-infinite", lambda: TrainConfig(lr=float("inf")),
         ValueError, r"lr must be a finite number above 0", r"got inf", r"try 1e-3"),
    case("train/lr-nan", lambda: TrainConfig(lr=float("nan")),
         ValueError, r"finite number above 0", r"got nan", r"try 1e-3"),
    case("train/lr-text", lambda: TrainConfig(lr="1e-3"),
         TypeError, r"lr must be a finite number", r"'1e-3' \(str\)", r"try 1e-3"),
    case("train/negative-warmup", lambda: TrainConfig(warmup_steps=-5),
         ValueError, r"warmup_steps must be an integer at least 0", r"got -5", r"0 means no"),
    case("train/negative-clipping", lambda: TrainConfig(clip_grad_norm=-1.0),
         ValueError, r"clip_grad_norm must be a finite number at least 0", r"got -1\.0",
         r"try 1\.0, or 0 for no clipping"),
    case("train/nan-clipping", lambda: TrainConfig(clip_grad_norm=float("nan")),
         ValueError, r"at least 0", r"got nan", r"try 1\.0"),
    case("train/negative-weight-decay", lambda: TrainConfig(weight_decay=-0.1),
         ValueError, r"weight_decay must be a finite number at least 0", r"-0\.1", r"try 0\.0"),
    case("train/momentum-above-one", lambda: TrainConfig(momentum=1.5),
         ValueError, r"at least 0 and below 1", r"got 1\.5", r"try 0\.9"),
    case("train/beta-of-one", lambda: TrainConfig(betas=(0.9, 1.0)),
         ValueError, r"at least 0 and below 1", r"got 1\.0", r"\(0\.9, 0\.999\)"),
    case("train/three-betas", lambda: TrainConfig(betas=(0.9, 0.99, 0.999)),
         ValueError, r"two numbers", r"\(0\.9, 0\.99, 0\.999\)", r"try \(0\.9, 0\.999\)"),
    case("train/step-gamma-zero", lambda: TrainConfig(step_gamma=0.0),
         ValueError, r"above 0 and at most 1", r"got 0\.0", r"try 0\.1"),
    case("train/no-epochs", lambda: TrainConfig(epochs=0),
         ValueError, r"epochs must be an integer at least 1", r"got 0", r"epochs=5"),
    case("train/fractional-epochs", lambda: TrainConfig(epochs=2.5),
         ValueError, r"epochs must be an integer", r"got 2\.5", r"epochs=5"),
    case("train/unknown-optimizer", lambda: TrainConfig(optimizer="adagrad"),
         ValueError, r"expected one of sgd, adam, adamw", r"'adagrad'", r"optimizer='sgd'"),
    case("train/unknown-schedule", lambda: TrainConfig(schedule="linear"),
         ValueError, r"expected one of constant, step, cosine", r"'linear'", r"schedule="),
    case("train/unknown-precision", lambda: TrainConfig(precision="fp8"),
         ValueError, r"expected one of fp32, bf16, fp16", r"'fp8'", r"precision='fp32'"),
    case("train/unknown-device", lambda: TrainConfig(device="gpu"),
         ValueError, r"expected one of auto, cpu, cuda, mps", r"'gpu'", r"device='auto'"),
    case("train/checkpoint-not-a-path", lambda: TrainConfig(checkpoint=3),
         TypeError, r"a path or a name", r"got 3", r"checkpoint must be"),
    case("train/fp16-on-a-cpu", lambda: train(precision="fp16", device="cpu"),
         ValueError, r"needs a CUDA GPU", r"on cpu", r"precision='bf16' or 'fp32'"),
    # --- loaders and batches ---------------------------------------------------------------
    case("train/empty-loader", lambda: train(loader(n=0)),
         ValueError, r"yields no batches", r"0 items, batch_size 4", r"give it data"),
    case("train/drop-last-leaves-nothing", lambda: train(loader(n=3, drop_last=True)),
         ValueError, r"0 steps", r"3 items, batch_size 4, drop_last True",
         r"drop_last=False or a batch_size of at most"),
    case("train/last-batch-of-one-pair", lambda: train(loader(n=5)),
         ValueError, r"needs at least 2", r"last batch of every epoch would hold 1 pair",
         r"drop_last=True"),
    case("train/batches-of-one-pair", lambda: train(loader(batch_size=1)),
         ValueError, r"at least 2 pairs", r"got 1", r"larger\s+batch_size"),
    case("train/a-generator-as-loader", lambda: train(b for b in loader()),
         TypeError, r"loader with a length", r"got generator", r"TensorLoader"),
    case("train/batches-not-dicts", lambda: train([torch.randn(4, 3)]),
         TypeError, r"dict batches \(name -> tensor\)", r"got Tensor", r"yield dicts"),
    case("train/accumulate-more-than-items", lambda: train(accumulate=8),
         ValueError, r"at least one item each", r"batch of 4 items into 8 micro-batches",
         r"accumulate <= batch size"),
    case("train/cached-accumulation-of-a-classifier",
         lambda: train(accumulate=2, loss_fn=xm.train.classification_loss),
         ValueError, r"needs a dual encoder", r"accumulation='cached'",
         r"accumulation='naive' for other losses"),
    # --- the loss and what it returns ------------------------------------------------------
    case("train/loss-not-a-scalar",
         lambda: train(loss_fn=lambda m, b: m(b["image"], b["input_ids"], b["attention_mask"])[
             "image_emb"]),
         TypeError, r"a scalar tensor", r"shape \(4, 8\)", r"\.mean\(\)"),
    case("train/loss-as-a-number", lambda: train(loss_fn=lambda m, b: 1.0),
         TypeError, r"a scalar tensor", r"got 1\.0", r"not \.item\(\)"),
    case("train/loss-without-gradient", lambda: train(loss_fn=lambda m, b: torch.tensor(1.0)),
         ValueError, r"computed from the\s+model's outputs", r"without a gradient",
         r"torch\.no_grad\(\)"),
    case("train/eval-returns-a-number", lambda: train(eval_fn=lambda m: 0.5),
         TypeError, r"a dict of metrics", r"got float", r"\"val_loss\""),
    case("train/monitor-never-measured", lambda: train(monitor="val_acc"),
         KeyError, r"not in the epoch row \['epoch', 'loss', 'seconds'\]", r"'val_acc'",
         r"return it from eval_fn"),
    case("train/nothing-to-train", lambda: train(net=model().requires_grad_(False)),
         ValueError, r"at least one with requires_grad", r"no trainable parameters",
         r"unfreeze"),
    # --- numbers that go wrong -------------------------------------------------------------
    case("train/nan-gradient", lambda: train(loss_fn=embeddings_loss(sqrt_of_zero)),
         FloatingPointError, r"expected a finite gradient", r"gradient became nan at step 1",
         r"sqrt or log of 0"),
    case("train/nan-gradient-with-clipping",
         lambda: train(loss_fn=embeddings_loss(sqrt_of_zero), clip_grad_norm=1.0),
         FloatingPointError, r"not taken", r"gradient became nan", r"add a small eps"),
    case("train/nan-loss",
         lambda: train(loss_fn=lambda m, b: xm.train.contrastive_loss(m, b) * float("nan")),
         FloatingPointError, r"expected a finite number", r"the loss became nan at step 1",
         r"Lower the learning rate"),
    case("train/nan-inputs", lambda: train(loss_fn=embeddings_loss(lambda img: img * float("nan"))),
         ValueError, r"finite numbers", r"image embeddings contain NaN", r"check the inputs"),
    case("train/weights-turn-nan", lambda: train(loader(n=4), callbacks=[Poison()]),
         FloatingPointError, r"expected finite weights", r"image_proj\.net\.weight holds NaN",
         r"Nothing was saved; lower the learning rate"),
    # --- checkpoints -----------------------------------------------------------------------
    case("train/checkpoint-is-a-folder", lambda: train(checkpoint=str(folder())),
         CheckpointError, r"expected a file", r"is a folder", r"name a file in it"),
    case("train/checkpoint-under-a-file",
         lambda: train(checkpoint=str(damaged(lambda d: d) / "model.pt")),
         CheckpointError, r"cannot write checkpoints to", r"model\.pt/model\.pt \(",
         r"folder you can write to"),
    case("train/resume-missing-file", lambda: train(resume=str(folder() / "none.pt")),
         FileNotFoundError, r"expected a file written by fit", r"no checkpoint at .*none\.pt",
         r"check the path"),
    case("train/resume-with-another-optimizer", resume_with_sgd,
         CheckpointError, r"resume with the same optimizer", r"trained with 'adam'",
         r"this run uses 'sgd'"),
    case("checkpoint/empty-file", lambda: load(damaged(lambda d: b"")),
         CheckpointError, r"expected a saved run", r"empty \(0 bytes", r"earlier checkpoint"),
    case("checkpoint/flipped-bytes", lambda: load(damaged(flip_in_the_middle)),
         CheckpointError, r"expected the bytes written at\s+save time",
         r"does not match the checksum", r"earlier checkpoint"),
    case("checkpoint/cut-off", lambda: load(damaged(lambda d: d[: len(d) // 2])),
         CheckpointError, r"expected one written by fit", r"damaged or is not a checkpoint",
         r"earlier checkpoint"),
    case("checkpoint/text-file", lambda: load(damaged(lambda d: b"hello")),
         CheckpointError, r"expected one written by fit", r"cannot read the checkpoint",
         r"train from the start"),
    case("checkpoint/nan-weights", lambda: load(nan_weights_without_checksums()),
         CheckpointError, r"expected finite\s+ones", r"NaN or infinite weights in image_proj",
         r"lower learning rate"),
    case("checkpoint/other-model",
         lambda: xm.checkpoint.load_checkpoint(saved(), xm.encoders.shapes_dual_encoder(
             len(TOK), image_size=16, embed_dim=16, width=16)),
         CheckpointError, r"different model", r"\(8, 16\) saved, \(16, 16\) here",
         r"same sizes"),
    case("checkpoint/missing", lambda: load(folder() / "none.pt"),
         FileNotFoundError, r"expected a file", r"no checkpoint at", r"check the path"),
    case("checkpoint/a-folder", lambda: load(folder()),
         FileNotFoundError, r"expected a file", r"no checkpoint at", r"check the path"),
    case("checkpoint/save-nan-weights", save_nan_weights,
         CheckpointError, r"expected\s+finite weights", r"text_proj\.net\.bias holds NaN",
         r"lower the learning rate"),
    case("checkpoint/plain-torch-save",
         lambda: load(damaged(lambda d: torch.save({"weights": 1}, p := folder() / "x.pt")
                              or p.read_bytes())),
         CheckpointError, r"expected format 'xmlab-checkpoint-1'", r"got keys \['weights'\]",
         r"save it with"),
    case("checkpoint/pickled-object",
         lambda: load(damaged(lambda d: torch.save({"x": Pickled()}, p := folder() / "x.pt")
                              or p.read_bytes())),
         CheckpointError, r"expected one written by fit", r"Weights only load failed",
         r"earlier checkpoint"),
]  # fmt: skip


@table(CASES)
def test_bad_input_gets_a_clear_error(bad):
    check(bad)


def test_the_error_that_ends_training_carries_the_history():
    calls = {"n": 0}

    def breaks_at_step_3(m, batch):
        calls["n"] += 1
        scale = float("nan") if calls["n"] == 3 else 1.0
        return xm.train.contrastive_loss(m, batch) * scale

    try:
        train(loss_fn=breaks_at_step_3)
    except FloatingPointError as err:
        assert len(err.history) == 2 and len(err.history.epochs) == 1  # steps 1-2, epoch 1
    else:
        raise AssertionError("a NaN loss must stop training")
