"""Helpers for programs that ludus runs as ``[[experiment]]`` instances, and a reader for results.

Inside a program started by ``ludus run-instances``::

    import ludus

    p = ludus.params(lr=0.1)           # the instance's parameters (defaults for a run by hand)
    for epoch in range(1, p["epochs"] + 1):
        ...
        ludus.log(epoch=epoch, loss=loss)  # one row of the instance's log (first column: the step)
    ckpt = ludus.run_dir() / "checkpoint.json"  # kept across attempts of this instance
    rng = random.Random(ludus.seed())

After a run, in a notebook::

    df = ludus.load("out/lr-sweep")    # every log row, with the parameters as columns

ludus tells a program about itself through environment variables: ``LUDUS_PARAMS`` (a JSON
file of the parameter values), ``LUDUS_PARAM_<NAME>`` (each value as text), ``LUDUS_SEED``,
``LUDUS_RUN_DIR``, ``LUDUS_METRICS`` (the file whose rows become the instance's log),
``LUDUS_INSTANCE_ID`` and ``LUDUS_EXPERIMENT``. The functions here read them; outside ludus they
raise :class:`NotRunByLudus` unless given a default, so a program run by hand never writes its
results somewhere unexpected. Standard library only; :func:`load` needs pandas
(``pip install 'ludus[pandas]'``).
"""

import csv
import io
import json
import math
import os
import pathlib

__all__ = [
    "NotRunByLudus",
    "params",
    "seed",
    "run_dir",
    "instance_id",
    "experiment",
    "log",
    "load",
]


class NotRunByLudus(RuntimeError):
    """An environment variable that ludus sets for its programs is missing."""


_MISSING = object()


def _env(name, default, what):
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is not _MISSING:
        return default
    raise NotRunByLudus(
        f"{name} is not set: {what} exists only when `ludus run-instances` runs this program "
        f"(to run it by hand, set {name} or pass a default)"
    )


def params(**defaults):
    """The instance's parameter values (fixed and swept) as a dict, typed as in the spec.

    Keyword arguments are defaults: the instance's values replace them, and outside ludus they
    are the whole answer (with no defaults, outside ludus raises :class:`NotRunByLudus`).
    """
    path = os.environ.get("LUDUS_PARAMS")
    if path is None:
        if defaults:
            return dict(defaults)
        _env("LUDUS_PARAMS", _MISSING, "the parameters file")
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    out = dict(defaults)
    out.update(values)
    return out


def seed(default=_MISSING):
    """The instance's seed (an int)."""
    return int(_env("LUDUS_SEED", default, "the seed"))


def run_dir(default=_MISSING):
    """The instance's own folder (a :class:`pathlib.Path`), kept across its attempts: the place
    for checkpoints, so a re-run after a kill resumes."""
    value = _env("LUDUS_RUN_DIR", default, "the run folder")
    return pathlib.Path(value)


def instance_id(default=_MISSING):
    """The instance's id (16 hex digits)."""
    return _env("LUDUS_INSTANCE_ID", default, "the instance id")


def experiment(default=_MISSING):
    """The name of the ``[[experiment]]`` table this instance comes from."""
    return _env("LUDUS_EXPERIMENT", default, "the experiment name")


def _cell(key, value):
    """A metric value as CSV text: numbers as Python writes them (floats round-trip), booleans
    as 1/0, None as an empty cell, strings as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return _cell(key, value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple, dict, set)):
        raise TypeError(
            f"ludus.log: `{key}` is a {type(value).__name__}; a metric is a number or a string"
        )
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        raise TypeError(
            f"ludus.log: `{key}` is a {type(value).__name__}; a metric is a number or a string"
        ) from None


def _json_value(value, cell):
    """A metric as a JSON value: strings as they are, numbers as numbers (non-finite ones, which
    JSON lacks, as text), None as null."""
    if isinstance(value, str):
        return value
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        x = float(cell)
        return x if math.isfinite(x) else cell


def _csv_line(fields):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


class _Log:
    """What :func:`log` knows about the metrics file: its path, format and columns, and its size
    after the last row written here (a different size means someone else wrote or cut it, and
    the file is read again)."""

    def __init__(self):
        self.path = None
        self.size = -1
        self.json = False
        self.columns = []

    def refresh(self, path):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = -1
        if path == self.path and size == self.size:
            return
        self.path, self.json, self.columns = path, False, []
        if size > 0:
            with open(path, "rb") as f:
                data = f.read()
            if not data.endswith(b"\n"):
                # The tail of a row whose write was cut by a kill: drop it (ludus drops it too).
                cut = data.rfind(b"\n") + 1
                with open(path, "r+b") as f:
                    f.truncate(cut)
                data = data[:cut]
            first = next((l for l in data.decode("utf-8").splitlines() if l.strip()), None)
            if first is not None:
                if first.lstrip().startswith("{"):
                    self.json = True
                else:
                    self.columns = [c.strip() for c in next(csv.reader([first]))]
            size = len(data)
        self.size = max(size, 0)

    def append(self, text):
        data = text.encode("utf-8")
        # One write of a whole line: a kill leaves at most a partial last line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.size += len(data)

    def add_columns(self, new):
        """Rewrites the file with `new` columns appended to the header (earlier rows get them
        empty): a temporary file renamed into place, so a kill leaves the old file or the new."""
        with open(self.path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        tmp = os.path.join(
            os.path.dirname(self.path) or ".",
            f".~{os.getpid()}.{os.path.basename(self.path)}",
        )
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            header_done = False
            for r in rows:
                if not any(c.strip() for c in r):
                    continue
                if not header_done or r == self.columns:
                    w.writerow(r + new)
                    header_done = True
                else:
                    w.writerow(r + [""] * len(new))
        os.replace(tmp, self.path)
        self.columns = self.columns + new
        self.size = os.stat(self.path).st_size


_LOG = _Log()


def log(**metrics):
    """Appends one row to the instance's log (the file ``LUDUS_METRICS``); ludus turns it into
    ``logs/<id>.csv`` when the program ends.

    The first keyword is the step column (an epoch, an iteration) that reports plot against.
    The first row's keywords become the CSV header; a later row may leave a column out (an empty
    cell) or bring a new one (the header gains it, earlier rows get it empty). A file the
    program started itself is continued in its own format (CSV with a header, or JSON lines).
    Each row is written at once, so rows logged before a checkpoint survive a kill.
    """
    if not metrics:
        raise TypeError("ludus.log: no metrics given (write ludus.log(step=1, loss=0.5))")
    path = _env("LUDUS_METRICS", _MISSING, "the metrics file")
    cells = {k: _cell(k, v) for k, v in metrics.items()}
    st = _LOG
    st.refresh(path)
    if st.json:
        st.append(json.dumps({k: _json_value(v, cells[k]) for k, v in metrics.items()}) + "\n")
        return
    if not st.columns:
        st.columns = list(cells)
        st.append(_csv_line(st.columns) + _csv_line(cells.values()))
        return
    new = [k for k in cells if k not in st.columns]
    if new:
        st.add_columns(new)
    st.append(_csv_line([cells.get(c, "") for c in st.columns]))


def _flat(value):
    """A parameter value as one DataFrame cell: lists and tables as JSON text (hashable, so
    ``groupby`` works), as ludus writes them into ``LUDUS_PARAM_*``."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value


_META = ("id", "experiment", "seed", "status")


def _describe(status):
    """(experiment name, parameters) of a status file's instance."""
    kind = status["instance"]["kind"]
    if "exec" in kind:
        e = kind["exec"]
        return e["name"], {k: _flat(v) for k, v in e.get("params", {}).items()}
    b = kind["builtin"]
    out = {"agent": b["agent"]["name"], "mdp": b["mdp"]["family"]}
    out.update({f"agent.{k}": _flat(v) for k, v in b["agent"].get("params", {}).items()})
    out.update({f"mdp.{k}": _flat(v) for k, v in b["mdp"].get("params", {}).items()})
    return f"{out['agent']} on {out['mdp']}", out


def load(directory, statuses=("done", "timeout")):
    """Every log row of an experiment folder as one pandas DataFrame.

    Columns: ``id``, ``experiment``, ``seed``, ``status``, then the instance's parameters (a
    parameter whose name is also a log column or one of those four is called ``param.<name>``),
    then the log's columns. Instances whose status is not in ``statuses`` are left out (pass
    ``statuses=None`` for all that have a log); built-in runs have ``agent``, ``mdp``,
    ``agent.<p>`` and ``mdp.<p>`` columns. Reads ``logs/`` only, so a copied logs folder works.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "ludus.load needs pandas: pip install pandas (or pip install 'ludus[pandas]')"
        ) from None
    logs = pathlib.Path(directory) / "logs"
    if not logs.is_dir():
        raise FileNotFoundError(
            f"{logs}: no logs folder; is {directory} an experiment folder that has run?"
        )
    groups = {}  # header -> (csv text parts, per-row metadata dicts)
    for status_path in sorted(logs.glob("*.json")):
        if status_path.name.startswith("."):
            continue
        csv_path = status_path.with_suffix(".csv")
        if not csv_path.is_file():
            continue
        try:
            status = json.loads(status_path.read_text(encoding="utf-8"))
            name, values = _describe(status)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{status_path}: not a ludus status file ({e!r})") from None
        if statuses is not None and status.get("status") not in statuses:
            continue
        text = csv_path.read_text(encoding="utf-8")
        records = list(csv.reader(io.StringIO(text)))
        if len(records) < 2:
            continue
        header = tuple(records[0])
        meta = {
            "id": status.get("id", status_path.stem),
            "experiment": name,
            "seed": status["instance"]["seed"],
            "status": status.get("status"),
        }
        for k, v in values.items():
            key = f"param.{k}" if k in header or k in _META else k
            meta[key] = v
        body = text.split("\n", 1)[1] if "\n" in text else ""
        if body and not body.endswith("\n"):
            body += "\n"
        parts, metas = groups.setdefault(header, ([_csv_line(header)], []))
        parts.append(body)
        metas.extend([meta] * (len(records) - 1))
    frames = []
    for header, (parts, metas) in groups.items():
        rows = pd.read_csv(io.StringIO("".join(parts)), skip_blank_lines=False)
        if len(rows) != len(metas):
            raise ValueError(f"ludus.load: {len(rows)} rows read where {len(metas)} were counted")
        front = pd.DataFrame.from_records(metas)
        frames.append(pd.concat([front, rows.reset_index(drop=True)], axis=1))
    if not frames:
        return pd.DataFrame(columns=list(_META))
    return pd.concat(frames, ignore_index=True, sort=False)
