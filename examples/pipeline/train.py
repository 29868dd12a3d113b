#!/usr/bin/env python3
"""Train: the consumer group "train" reads `features` in batches and trains,
online, a linear model that forecasts a sensor's next reading from its
current features — plain Python, mini-batch stochastic gradient descent.

A training example is a pair of consecutive feature records of one sensor:
the first one's features, the second one's reading as the target. Pairing
needs each sensor's records in order, which the log gives: one key, one
partition, offset order. Records that arrive out of order (sequence number not
above the sensor's last) are counted in "order_violations" and not paired.

After each batch: the loss on the batch is printed (measured *before* the
model learns from it, so it is an honest score on unseen data), the model
takes one gradient step, the weights are written to --model (atomically;
infer.py picks them up), and the batch's offsets are committed. A restarted
trainer resumes after the last committed batch and, given the same --model
file, from the weights it had then.

    python train.py --idle-timeout 5 --model model.json
"""

import json
import os

import common

N_FEATURES = 4


def feature_vector(f):
    """[bias, reading, rolling mean, delta], scaled to be near [-1, 1]."""
    return [
        1.0,
        (f["reading"] - common.CENTER) / common.SCALE,
        (f["mean"] - common.CENTER) / common.SCALE,
        f["delta"],
    ]


def predict(weights, f):
    """The forecast of the sensor's next reading, in degrees C."""
    return common.CENTER + common.SCALE * sum(w * x for w, x in zip(weights, feature_vector(f)))


def load_model(path):
    """(weights, version) from a model file, or None if there is none yet."""
    try:
        with open(path) as fh:
            model = json.load(fh)
        return model["weights"], model["version"]
    except (OSError, ValueError, KeyError):
        return None


def save_model(path, model):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(model, fh)
    os.replace(tmp, path)  # readers see the old file or the new one, never half


class Trainer:
    def __init__(self, args):
        self.lr = args.learning_rate
        self.model_path = args.model
        loaded = load_model(self.model_path) if args.model else None
        self.weights, self.version = loaded if loaded else ([0.0] * N_FEATURES, 0)
        self.previous = {}  # sensor -> its last feature record
        self.counts = {"consumed": 0, "examples": 0, "batches_trained": 0, "order_violations": 0}
        self.losses = []  # per batch, in degrees^2, before the update
        self.persistence_sq_error = 0.0  # the naive "next = current" forecast, for comparison

    def handle_batch(self, records):
        batch = []
        for record in records:
            self.counts["consumed"] += 1
            f = json.loads(record.value)
            prev = self.previous.get(f["sensor"])
            if prev is not None and f["seq"] <= prev["seq"]:
                self.counts["order_violations"] += 1
                continue
            if prev is not None:
                batch.append((feature_vector(prev), (f["reading"] - common.CENTER) / common.SCALE))
                self.persistence_sq_error += (f["reading"] - prev["reading"]) ** 2
            self.previous[f["sensor"]] = f
        if not batch:
            return []
        # The loss first (on data the model has not seen), then one SGD step on
        # the mean squared error.
        errors = [sum(w * xi for w, xi in zip(self.weights, x)) - y for x, y in batch]
        self.losses.append(sum(e * e for e in errors) / len(errors) * common.SCALE**2)
        grad = [0.0] * N_FEATURES
        for (x, _), e in zip(batch, errors):
            for i in range(N_FEATURES):
                grad[i] += 2 * e * x[i] / len(batch)
        self.weights = [w - self.lr * g for w, g in zip(self.weights, grad)]
        self.version += 1
        self.counts["examples"] += len(batch)
        self.counts["batches_trained"] += 1
        if self.model_path:
            save_model(
                self.model_path,
                {"weights": self.weights, "version": self.version, "loss": self.losses[-1], "examples": self.counts["examples"]},
            )
        return []


def main():
    p = common.arg_parser(__doc__.split("\n\n")[0])
    p.add_argument("--group", default="train")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=0.5)
    p.add_argument("--model", default="model.json", help="where to write the weights after each batch ('' for nowhere)")
    args = p.parse_args()

    common.ensure_topics(args.bootstrap_server, args.partitions)
    stopper = common.Stopper(args)
    trainer = Trainer(args)
    progress = common.Progress("train", args.quiet)
    loss_progress = common.Progress("train", args.quiet)  # its own once-a-second budget

    def handle(records):
        trainer.handle_batch(records)
        if trainer.losses:
            loss_progress(f"model v{trainer.version}: batch loss {trainer.losses[-1]:.3f} (mean squared error, degrees^2)")

    consumer = common.make_consumer(args.bootstrap_server, args.group, common.FEATURES, args.batch_size)
    try:
        _, reason, stats = common.consume_batches(consumer, stopper, progress, handle)
    finally:
        common.close_quietly(consumer)
    losses = trainer.losses
    tail = losses[-5:]
    common.summary(
        {
            "script": "train",
            **trainer.counts,
            "model_version": trainer.version,
            "first_batch_loss": round(losses[0], 4) if losses else None,
            "last_batches_loss": round(sum(tail) / len(tail), 4) if tail else None,
            "persistence_loss": round(trainer.persistence_sq_error / trainer.counts["examples"], 4)
            if trainer.counts["examples"]
            else None,
            "weights": [round(w, 4) for w in trainer.weights],
            "sensors": len(trainer.previous),
            **stats,
            "stopped_by": reason,
        }
    )


if __name__ == "__main__":
    main()
