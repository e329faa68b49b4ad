"""The layer base class, option specs and the shared checks every layer uses.

A layer is a frozen dataclass holding PyTorch's constructor arguments (ints, or SymPy
expressions for symbolic sizes). It validates itself on construction and turns an input shape
into a ``LayerReport``. Option specs are plain data: ``cli.py`` turns them into Typer options,
the network loader (later) into YAML keys, so adding a layer touches no plumbing.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from .. import sizes
from ..sizes import Shape, Size
from ..errors import ConfigError, ConvcalcError, ExpressionError, ShapeError
from ..expr import parse_expr, parse_tuple
from ..report import COUNT_KEYS, DTYPE_BYTES, LayerReport
from .counts import Counts  # noqa: F401 (re-exported)
from .values import MAX_RANK, _short, per_dim, read_shape, require, show, to_float, to_index, to_value  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Opt:
    """One constructor argument as the command line and files spell it.

    kind: ``size`` (one integer expression), ``sizes`` (one per spatial dimension, or one for
    all), ``padding`` (``sizes`` or ``same``/``valid``), ``flag`` (``--x/--no-x``), ``choice``,
    ``float`` (a finite number, read by float(), never evaluated), ``float_or_none`` and
    ``size_or_none`` (or ``none``).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    required: bool = False
    #: "arg": a constructor argument; "input": describes the input instead (--seq-len)
    role: str = "arg"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: Any) -> Any:
        """The option's value from command-line text (numbers stay ints)."""
        if raw is None or self.kind in ("flag",):
            return raw
        if self.kind == "choice":
            if raw not in self.choices:
                raise ConfigError(f"{raw!r} is not one of {', '.join(self.choices)}")
            return raw
        if not isinstance(raw, str):
            return raw
        if self.kind == "padding" and raw.strip().lower() in ("same", "valid"):
            return raw.strip().lower()
        if self.kind == "size":
            return parse_expr(raw)
        if self.kind in ("float", "float_or_none"):
            if self.kind == "float_or_none" and raw.strip().lower() == "none":
                return None
            return to_float(raw, self.name)
        if self.kind == "size_or_none":
            return None if raw.strip().lower() == "none" else parse_expr(raw)
        if self.kind == "size_or_inf":
            return "inf" if raw.strip().lower() in ("inf", "infinity") else parse_expr(raw)
        return parse_tuple(raw)


#: exceptions that mean a hostile value got past the checks; they become a ConfigError
_RAW = (TypeError, AttributeError, OverflowError, RecursionError, ZeroDivisionError, MemoryError, IndexError, KeyError)


def _check_fields(cls: type, args: tuple, kwargs: dict) -> None:
    """Flags (fields declared bool) must be bools and choices (declared str) text, whatever the
    layer does with them later."""
    kinds = cls.__dict__.get("_FIELD_KINDS")
    if kinds is None:
        kinds = {f.name: str(f.type) for f in fields(cls)}
        type.__setattr__(cls, "_FIELD_KINDS", kinds)
    values = dict(zip(kinds, args))
    values.update(kwargs)
    for name, value in values.items():
        kind = kinds.get(name)
        if kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"expected True or False, got {_short(value)}", option=name)
        if kind == "str" and not isinstance(value, str):
            raise ConfigError(f"expected text, got {_short(value)}", option=name)


class _LayerType(type):
    """Calling a layer class raises ConvcalcError for every bad argument: a missing or unknown
    argument (the dataclass __init__ would raise TypeError), a flag that is not a bool, and
    anything a field's check refuses, with the layer's name added."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            _check_fields(cls, args, kwargs)
            return super().__call__(*args, **kwargs)
        except ConvcalcError as e:
            raise e.with_context(layer=cls.NAME or None) from None
        except TypeError as e:
            _explain_call(cls, args, kwargs)
            raise ConfigError(f"cannot be built from these arguments ({e})", layer=cls.NAME or None) from None
        except _RAW as e:
            raise ConfigError(f"cannot be built from these arguments ({type(e).__name__})", layer=cls.NAME or None) from None


def _explain_call(cls: type, args: tuple, kwargs: dict) -> None:
    """Raise the ConfigError that names a missing, unknown or duplicated argument."""
    names = [f.name for f in fields(cls)]
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    accepted = ", ".join(names)
    if len(args) > len(names):
        raise ConfigError(f"takes at most {len(names)} arguments ({accepted}), got {len(args)}", layer=cls.NAME or None)
    given = dict(zip(names, args))
    for key in kwargs:
        if key not in names:
            raise ConfigError(f"unknown argument (accepted: {accepted})", option=str(key), layer=cls.NAME or None)
        if key in given:
            raise ConfigError("given twice (by position and by name)", option=key, layer=cls.NAME or None)
    given.update(kwargs)
    for key in required:
        if key not in given:
            raise ConfigError("missing (a required argument)", option=key, layer=cls.NAME or None)


@dataclass(frozen=True)
class Layer(metaclass=_LayerType):
    """Base of every layer. Subclasses set the class variables and implement the hooks."""

    NAME: ClassVar[str] = ""
    SUMMARY: ClassVar[str] = ""
    EXAMPLE: ClassVar[str] = ""
    OPTIONS: ClassVar[tuple[Opt, ...]] = ()
    #: what --input means for this layer, e.g. "C,H,W"
    INPUT: ClassVar[str] = ""

    #: number of spatial dimensions (convolution and pooling families)
    NDIM: ClassVar[int] = 0
    #: arguments a derivation keeps as numbers (its formulas need them numeric)
    EXPLAIN_NUMERIC: ClassVar[tuple[str, ...]] = ()
    #: a layer that only views its input: "alias" (its output is the input's storage: flatten,
    #: permute) or "part" (a part of it that keeps the whole storage alive: x[:, i]); None otherwise
    VIEW: ClassVar[str | None] = None
    #: what of its parameters a pass must read (roofline.py): "all", or "rows" for a lookup table
    #: (each row one sample reads, once: at most that sample's output elements)
    READS: ClassVar[str] = "all"

    def __init_subclass__(cls, *, ndim: int | None = None, example: str | None = None, name: str | None = None, **kwargs: Any) -> None:
        """A public layer declares itself in one line: ``class Conv2d(_ConvNd, ndim=2, example=...)``
        with its summary as the docstring; the command name is the class name in lower case and
        the input layout follows from ndim."""
        super().__init_subclass__(**kwargs)
        if ndim is not None:
            cls.NDIM = ndim
            cls.INPUT = ("C", "C,L", "C,H,W", "C,D,H,W")[ndim]
        if example is not None:
            cls.NAME = name or cls.__name__.lower()
            cls.SUMMARY = " ".join((cls.__doc__ or "").split())
            cls.EXAMPLE = f"convcalc {cls.NAME} {example}"

    # -- hooks -------------------------------------------------------------------------------
    @classmethod
    def input_from_options(cls, options: dict) -> tuple | None:
        """The input shape when options describe it (--seq-len with --input-size); None when
        --input is needed."""
        return None

    #: constructor arguments read off the input shape: name -> index (in_channels: 0, in_features: -1)
    INFERRED: ClassVar[dict[str, int]] = {}

    @classmethod
    def inferred(cls, input_shape: tuple) -> dict:
        """Constructor arguments taken from the input shape (in_channels, num_features...)."""
        return {name: input_shape[i] for name, i in cls.INFERRED.items()} if input_shape else {}

    def check_input(self, shape: tuple) -> None:
        """Raise ShapeError when the layer cannot take this input shape."""

    def output_shape(self, shape: tuple) -> tuple:
        raise NotImplementedError

    def counts(self, shape: tuple, out: tuple) -> Counts:
        raise NotImplementedError

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Any:
        """The whole batch's backward: a ``training.Backward`` (dL/dx and dL/dW counts, the
        tensors autograd saves, the parameters' shapes), written beside ``counts``."""
        raise NotImplementedError

    # -- shared machinery --------------------------------------------------------------------
    def normalize(self, *, scalars: dict[str, int] = {}, spatial: dict[str, int] = {}) -> None:  # noqa: B006
        """Turn the named fields into ints/expressions (``spatial`` ones into one value per
        dimension) and refuse values below the given minimum. For __post_init__ of frozen layers."""
        for name, minimum in scalars.items():
            value = to_value(getattr(self, name), name)
            require(value, name, minimum=minimum)
            object.__setattr__(self, name, value)
        for name, minimum in spatial.items():
            values = per_dim(getattr(self, name), self.NDIM, name)
            require(values, name, minimum=minimum)
            object.__setattr__(self, name, values)

    @classmethod
    def build(cls, input_shape: tuple, options: dict) -> "Layer":
        """The layer for this input from option values (command-line text or parsed values)."""
        kwargs = dict(cls.inferred(input_shape))
        for name, value in cls.parse_options(options).items():
            spec = next((o for o in cls.OPTIONS if o.name == name), None)
            if spec is None or spec.role == "arg":
                kwargs[name] = value
        try:
            return cls(**kwargs)
        except ConvcalcError as e:
            raise e.with_context(layer=cls.NAME) from None

    @classmethod
    def parse_options(cls, options: dict) -> dict:
        """Option values from command-line text (values that are not text pass through)."""
        specs = {o.name: o for o in cls.OPTIONS}
        out = {}
        for name, raw in options.items():
            spec = specs.get(name)
            try:
                out[name] = spec.parse(raw) if spec else raw
            except ConvcalcError as e:
                raise e.with_context(option=name, layer=cls.NAME) from None
        return out

    #: the argument a bare value sets in a network file (``dropout: 0.1`` is p = 0.1), as
    #: PyTorch's first positional argument of the layer; None: the layer takes a mapping only
    SCALAR: ClassVar[str | None] = None

    @classmethod
    def params_from_body(cls, body: Any) -> dict:
        """A network file's parameters for this layer from its body: a mapping, nothing, or
        (for layers with SCALAR) one bare value."""
        if body is None:
            return {}
        if isinstance(body, dict):
            return body
        if cls.SCALAR is not None and not isinstance(body, (list, tuple, set)):
            return {cls.SCALAR: body}
        raise ConfigError(
            f"takes a mapping of parameters{f' or a value for {cls.SCALAR}' if cls.SCALAR else ''}, got {_short(body)}",
            layer=cls.NAME,
        )

    def config(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def report(self, input_shape: Shape, *, batch: Size = 1, dtype: str = "float32", training: Any = None) -> LayerReport:
        """Every quantity of this layer for one input shape (batch excluded); with a
        ``training.Training``, the backward pass and the training step too."""
        try:
            return self._report(input_shape, batch, dtype, training)
        except ConvcalcError as e:
            raise e.with_context(layer=self.NAME) from None
        except _RAW as e:  # a hostile value got past the checks: still one error, never a traceback
            raise ConfigError(f"cannot be computed ({type(e).__name__})", layer=self.NAME) from None

    def _report(self, input_shape: Any, batch: Any, dtype: str, training: Any = None) -> LayerReport:
        shape = read_shape(input_shape)
        batch = to_value(batch, "batch")
        require(batch, "batch", minimum=1)
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise ConfigError(f"{_short(dtype)} is not one of {', '.join(DTYPE_BYTES)}", option="dtype")
        width = DTYPE_BYTES[dtype]
        self.check_input(shape)
        out = tuple(sizes.normalize(v) for v in self.output_shape(shape))
        for i, v in enumerate(out):
            if sizes.is_known_lt(v, 1):
                raise ShapeError(f"output size {sizes.to_text(v)} in dimension {i + 1} is not positive", option="input")
        c = self.counts(shape, out)
        n = sizes.normalize
        out_numel = sizes.prod(out)
        gemm = None
        if c.gemm is not None:
            gemm = list(c.gemm)
            gemm[c.gemm_batch_axis] = gemm[c.gemm_batch_axis] * batch
            gemm = tuple(n(v) for v in gemm)
        flops = None if None in (c.mults, c.adds, c.comparisons) else c.mults + c.adds + c.comparisons

        def scaled(counts: dict) -> dict:
            """Counts of one sample -> the batch's, with flops = mults + adds + comparisons."""
            out = {k: n(counts.get(k, 0) * batch) for k in COUNT_KEYS if k != "flops"}
            out["flops"] = n((counts.get("mults", 0) + counts.get("adds", 0) + counts.get("comparisons", 0)) * batch)
            return {k: out[k] for k in COUNT_KEYS}

        params, mults, adds, comparisons = n(c.weights + c.biases), n(c.mults * batch), None if c.adds is None else n(c.adds * batch), n(c.comparisons * batch)
        param_bytes, buffer_bytes = n((c.weights + c.biases) * width), n(c.buffers * width + c.int_buffers * 8)
        extra, notes = {}, tuple(c.notes)
        if training is not None:
            from . import training as step

            forward = step.with_flops({"mults": mults, "adds": adds, "comparisons": comparisons, "macs": c.macs * batch,
                                       "transcendentals": c.transcendentals * batch})
            extra, more = step.fields(self, shape, out, batch, dtype, training, forward, params, param_bytes, buffer_bytes)
            steps = extra.pop("sequential_steps_backward")
            if steps is not None:
                c.sequential_steps_backward = steps
            notes = tuple(dict.fromkeys(notes + more))
        per_layer = None
        if c.per_layer is not None:
            per_layer = tuple(
                {k: scaled(v) if k in ("per_step", "per_sequence") else n(v) for k, v in row.items()} for row in c.per_layer
            )
        return LayerReport(
            layer=self.NAME,
            input_shape=shape,
            output_shape=out,
            params=params,
            weights=n(c.weights),
            biases=n(c.biases),
            buffers=n(c.buffers + c.int_buffers),
            mults=mults,
            adds=adds,
            comparisons=comparisons,
            macs=n(c.macs * batch),
            flops=None if flops is None else n(flops * batch),
            connections=n(c.connections),
            activation_bytes=n(out_numel * batch * width),
            param_bytes=param_bytes,
            buffer_bytes=buffer_bytes,
            gemm=gemm,
            gemm_groups=n(c.gemm_groups) if c.gemm is not None else None,
            sequential_steps=n(c.sequential_steps),
            batch=batch,
            dtype=dtype,
            transcendentals=n(c.transcendentals * batch),
            sequential_steps_backward=n(c.sequential_steps_backward),
            state_bytes=None if c.state is None else n(c.state * batch * width),
            bptt_activation_bytes=None if c.bptt is None else n(c.bptt * batch * width),
            per_step=None if c.per_step is None else scaled(c.per_step),
            per_layer=per_layer,
            sequential_regimes=None if c.regimes is None else {k: n(v) for k, v in c.regimes.items()},
            notes=notes,
            step_unit=c.step_unit,
            effective_params=None if c.effective_weights is None else n(c.effective_weights + c.biases),
            effective_mults=None if c.effective_mults is None else n(c.effective_mults * batch),
            receptive_field=None if c.receptive_field is None else {k: (v if k == "map" else n(v)) for k, v in c.receptive_field.items()},
            work=None if c.work is None else {k: scaled(v) for k, v in c.work.items()},
            config=self.config(),
            **extra,
        )


def expect_rank(layer: Layer, shape: tuple, rank: int | tuple[int, ...]) -> None:
    ranks = rank if isinstance(rank, tuple) else (rank,)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(
            f"expects {want} entries ({layer.INPUT}, batch excluded), got {len(shape)}: {show(shape)}",
            option="input",
        )


def expect_channels(shape: tuple, expected: Any, what: str) -> None:
    if sizes.compare(shape[0], expected) not in (0, None):
        raise ShapeError(
            f"has {sizes.to_text(shape[0])} channels but {what} is {sizes.to_text(expected)}", option="input"
        )


__all__ = [
    "Counts",
    "Layer",
    "Opt",
    "expect_channels",
    "expect_rank",
    "per_dim",
    "require",
    "show",
    "to_float",
    "to_index",
    "to_value",
    "ConfigError",
    "ShapeError",
    "ExpressionError",
]
