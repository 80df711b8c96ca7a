"""Unit tests of the `ludus` Python module (standard library unittest; pandas for `load`).

    python -m unittest discover -s python/tests -v

The integration test (tests/it/portable.rs) runs them against the module installed from the
wheel, and runs real programs through `ludus run-instances` to check that ludus reads what
`ludus.log` writes.
"""

import json
import os
import pathlib
import tempfile
import unittest

import ludus

ENV = (
    "LUDUS_PARAMS",
    "LUDUS_SEED",
    "LUDUS_RUN_DIR",
    "LUDUS_METRICS",
    "LUDUS_INSTANCE_ID",
    "LUDUS_EXPERIMENT",
)


class Env(unittest.TestCase):
    def setUp(self):
        self.saved = {k: os.environ.pop(k, None) for k in ENV}
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)

    def tearDown(self):
        for k, v in self.saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        self.tmp.cleanup()


class Instance(Env):
    def test_params_from_the_json_file_over_defaults(self):
        p = self.dir / "params.json"
        p.write_text(json.dumps({"lr": 0.1, "opt": "adam", "layers": [1, 2]}))
        os.environ["LUDUS_PARAMS"] = str(p)
        self.assertEqual(
            ludus.params(lr=0.5, epochs=3),
            {"lr": 0.1, "opt": "adam", "layers": [1, 2], "epochs": 3},
        )
        self.assertEqual(ludus.params()["layers"], [1, 2])

    def test_outside_ludus_defaults_or_a_loud_error(self):
        self.assertEqual(ludus.params(lr=0.5), {"lr": 0.5})
        with self.assertRaises(ludus.NotRunByLudus) as e:
            ludus.params()
        self.assertIn("LUDUS_PARAMS", str(e.exception))
        for f in (ludus.seed, ludus.run_dir, ludus.instance_id, ludus.experiment):
            with self.assertRaises(ludus.NotRunByLudus):
                f()
        self.assertEqual(ludus.seed(4), 4)
        self.assertEqual(ludus.run_dir("."), pathlib.Path("."))
        with self.assertRaises(ludus.NotRunByLudus) as e:
            ludus.log(step=1)
        self.assertIn("LUDUS_METRICS", str(e.exception))

    def test_seed_run_dir_id_experiment(self):
        os.environ.update(
            LUDUS_SEED="17",
            LUDUS_RUN_DIR=str(self.dir),
            LUDUS_INSTANCE_ID="00ff00ff00ff00ff",
            LUDUS_EXPERIMENT="train",
        )
        self.assertEqual(ludus.seed(), 17)
        self.assertEqual(ludus.seed(3), 17)
        self.assertEqual(ludus.run_dir(), self.dir)
        self.assertEqual(ludus.instance_id(), "00ff00ff00ff00ff")
        self.assertEqual(ludus.experiment(), "train")


class Scalar:
    """Stands for a numpy or torch scalar: `.item()` gives the Python number."""

    def __init__(self, x):
        self.x = x

    def item(self):
        return self.x


class Log(Env):
    def setUp(self):
        super().setUp()
        self.metrics = self.dir / "metrics"
        os.environ["LUDUS_METRICS"] = str(self.metrics)

    def text(self):
        return self.metrics.read_text()

    def test_header_once_then_rows_in_header_order(self):
        ludus.log(epoch=1, loss=0.5, tag="a,b")
        ludus.log(loss=0.25, epoch=2, tag='say "hi"')
        ludus.log(epoch=3, loss=Scalar(0.125))
        self.assertEqual(
            self.text(),
            'epoch,loss,tag\n1,0.5,"a,b"\n2,0.25,"say ""hi"""\n3,0.125,\n',
        )

    def test_values(self):
        ludus.log(step=1, ok=True, bad=False, none=None, big=10**20, nan=float("nan"), x=1e-30)
        self.assertEqual(self.text().splitlines()[1], "1,1,0,,100000000000000000000,nan,1e-30")
        with self.assertRaises(TypeError) as e:
            ludus.log(step=2, w=[1, 2])
        self.assertIn("`w` is a list", str(e.exception))
        with self.assertRaises(TypeError):
            ludus.log()
        self.assertEqual(len(self.text().splitlines()), 2, "nothing written by the failed calls")

    def test_a_new_metric_adds_a_column(self):
        ludus.log(epoch=1, loss=0.5)
        ludus.log(epoch=2, loss=0.4, acc=0.9)
        ludus.log(epoch=3, acc=0.95)
        self.assertEqual(self.text(), "epoch,loss,acc\n1,0.5,\n2,0.4,0.9\n3,,0.95\n")
        self.assertEqual([p.name for p in self.dir.iterdir()], ["metrics"], "no temp file left")

    def test_continues_a_file_cut_or_started_by_someone_else(self):
        ludus.log(epoch=1, loss=0.5)
        ludus.log(epoch=2, loss=0.4)
        # The program keeps only the rows its checkpoint covers (as examples/exec-python does).
        self.metrics.write_text("epoch,loss\n1,0.5\n")
        ludus.log(epoch=2, loss=0.3)
        self.assertEqual(self.text(), "epoch,loss\n1,0.5\n2,0.3\n")
        # A kill mid-write left a partial row: it is dropped.
        self.metrics.write_text("epoch,loss\n1,0.5\n2,0.")
        ludus.log(epoch=2, loss=0.2)
        self.assertEqual(self.text(), "epoch,loss\n1,0.5\n2,0.2\n")
        # Another header, written by the program itself.
        self.metrics.write_text("loss,epoch\n")
        ludus.log(epoch=1, loss=0.1)
        self.assertEqual(self.text(), "loss,epoch\n0.1,1\n")

    def test_json_lines_are_continued_as_json_lines(self):
        self.metrics.write_text('{"step": 1, "v": 2}\n')
        ludus.log(step=2, v=0.5, name="x", ok=True, gone=None, inf=float("inf"))
        lines = self.text().splitlines()
        self.assertEqual(
            json.loads(lines[1]),
            {"step": 2, "v": 0.5, "name": "x", "ok": 1, "gone": None, "inf": "inf"},
        )


def status(id_, name, seed, params, state="done"):
    return {
        "id": id_,
        "status": state,
        "steps_completed": 0,
        "wall_seconds": 0.1,
        "message": None,
        "learning_stopped_at": None,
        "early_stopped_at": None,
        "ludus_version": "0.1.0",
        "host": "h",
        "rank": 0,
        "finished_at": "2026-01-01T00:00:00Z",
        "instance": {
            "spec_name": "s",
            "kind": {
                "exec": {
                    "name": name,
                    "command": ["x"],
                    "workdir": ".",
                    "workdir_abs": "/",
                    "params": params,
                }
            },
            "seed": seed,
            "steps": 0,
            "log_every": 0,
            "time_limit_ms": 0,
        },
    }


class Load(Env):
    def write(self, id_, st, csv):
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        (logs / f"{id_}.json").write_text(json.dumps(st))
        if csv is not None:
            (logs / f"{id_}.csv").write_text(csv)

    def test_one_frame_with_parameters_as_columns(self):
        self.write("a" * 16, status("a" * 16, "train", 0, {"lr": 0.1, "net": [8, 8]}),
                   "epoch,loss\n1,0.5\n2,0.25\n")
        self.write("b" * 16, status("b" * 16, "train", 1, {"lr": 0.3, "net": [8, 8]}),
                   "epoch,loss\n1,0.7\n")
        # A parameter that is also a log column is renamed; another header is its own group.
        self.write("c" * 16, status("c" * 16, "probe", 0, {"lr": 0.2}), "step,lr\n1,0.2\n")
        self.write("d" * 16, status("d" * 16, "train", 2, {"lr": 9.0}, "error"), "epoch,loss\n1,9\n")
        self.write("e" * 16, status("e" * 16, "train", 3, {"lr": 1.0}), None)
        self.write(".~tmp", {}, None)
        df = ludus.load(self.dir)
        self.assertEqual(len(df), 4)
        self.assertEqual(
            list(df.columns),
            ["id", "experiment", "seed", "status", "lr", "net", "epoch", "loss", "param.lr", "step"],
        )
        train = df[df.experiment == "train"]
        self.assertEqual(list(train.lr), [0.1, 0.1, 0.3])
        self.assertEqual(list(train.seed), [0, 0, 1])
        self.assertEqual(list(train.loss), [0.5, 0.25, 0.7])
        self.assertEqual(list(train.net), ["[8,8]"] * 3)
        self.assertEqual(train.groupby("lr").loss.mean().to_dict(), {0.1: 0.375, 0.3: 0.7})
        probe = df[df.experiment == "probe"].iloc[0]
        self.assertEqual((probe["param.lr"], probe["lr"], probe["step"]), (0.2, 0.2, 1))
        self.assertEqual(len(ludus.load(self.dir, statuses=None)), 5)

    def test_errors_name_the_folder(self):
        with self.assertRaises(FileNotFoundError) as e:
            ludus.load(self.dir / "nope")
        self.assertIn("nope", str(e.exception))
        (self.dir / "logs").mkdir()
        self.assertEqual(len(ludus.load(self.dir)), 0)
        (self.dir / "logs" / "x.json").write_text("{}")
        (self.dir / "logs" / "x.csv").write_text("a\n1\n")
        with self.assertRaises(ValueError) as e:
            ludus.load(self.dir)
        self.assertIn("x.json", str(e.exception))


if __name__ == "__main__":
    unittest.main()
