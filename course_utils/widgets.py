"""The widget pattern of the course: a plain render function, and a thin control panel around it.

Write the figure as a function of its controls, with defaults::

    def render_digit(index: int = 0, binarized: bool = False) -> Figure: ...

Tests call ``render_digit(3, True)`` directly, with no browser. In the notebook::

    present(render_digit, index=(0, 99), binarized=False)

shows the default figure as an ordinary output (so it is there in CI, in the HTML export and in
any viewer without a widget front end) and, above it, controls that redraw that same output in
place when an instructor moves them in JupyterLab.

Control abbreviations: ``(lo, hi)`` or ``(lo, hi, step)`` -> a slider (integer if all are ints);
a list of strings -> a dropdown; a bool -> a checkbox; or pass any ipywidgets value widget, such as
:func:`toggles` (a set of choices, one toggle button each: the value is the tuple of those pressed).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt


def _default_of(render: Callable, name: str) -> Any:
    param = inspect.signature(render).parameters.get(name)
    if param is None:
        raise ValueError(f"{getattr(render, '__name__', render)} has no parameter {name!r} to control.")
    return None if param.default is inspect.Parameter.empty else param.default


def make_control(name: str, spec: Any, default: Any) -> Any:
    """An ipywidgets control for ``spec`` (see the module docstring), starting at ``default``."""
    import ipywidgets as w

    if isinstance(spec, w.ValueWidget):
        if default is not None:
            spec.value = default
        return spec
    style = {"description_width": "initial"}
    if isinstance(spec, bool):
        return w.Checkbox(value=spec if default is None else default, description=name, style=style)
    if isinstance(spec, list) and spec:
        return w.Dropdown(options=spec, value=spec[0] if default is None else default, description=name, style=style)
    if isinstance(spec, tuple) and len(spec) in (2, 3):
        lo, hi = spec[:2]
        is_int = all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
        step = spec[2] if len(spec) == 3 else (1 if is_int else (hi - lo) / 100)
        value = lo if default is None else default
        cls = w.IntSlider if is_int else w.FloatSlider
        return cls(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False, style=style)
    raise ValueError(f"Control {name!r}: give a (lo, hi[, step]) tuple, a list of options, a bool, or an ipywidgets widget; got {spec!r}.")


@dataclass
class Panel:
    """What :func:`present` returns: the render function, its current values and its controls."""

    render: Callable[..., Any]
    values: dict[str, Any]
    controls: dict[str, Any] = field(default_factory=dict)
    handle: Any = None

    def redraw(self, **changes: Any) -> None:
        """Render with ``changes`` applied and replace the displayed figure (what a control does)."""
        self.values.update(changes)
        fig = self.render(**self.values)
        if self.handle is not None:
            self.handle.update(fig)
        plt.close(fig)

    def _ipython_display_(self) -> None:  # a trailing `present(...)` adds no extra output
        pass


def present(render: Callable[..., Any], **controls: Any) -> Panel:
    """Display ``render``'s default figure with controls that redraw it; see the module docstring."""
    from IPython.display import display

    values = {name: _default_of(render, name) for name in controls}
    panel = Panel(render, values)
    try:
        import ipywidgets as w

        panel.controls = {name: make_control(name, spec, values[name]) for name, spec in controls.items()}
        panel.values = {name: c.value for name, c in panel.controls.items()}
        for name, control in panel.controls.items():
            control.observe(lambda change, name=name: panel.redraw(**{name: change["new"]}), names="value")
        display(w.HBox(list(panel.controls.values())) if panel.controls else w.HTML(""))
    except ImportError:  # no ipywidgets: the static figure is still shown
        pass
    fig = render(**panel.values)
    panel.handle = display(fig, display_id=True)
    plt.close(fig)
    return panel


def toggles(options: Sequence[str], value: Sequence[str] = (), description: str = "") -> Any:
    """A control for a *set* of choices: one toggle button per option, wrapping onto several lines.

    Its ``value`` is the tuple of the options pressed, in the order of ``options``; setting it
    presses the matching buttons (an unknown option is a ``ValueError``). Use it where a render
    function takes several choices at once (the words of an email): each click adds or removes
    one, with no Ctrl-click to learn. ``present(render, words=toggles(VOCABULARY))``.
    """
    return _toggle_set_class()(options, value, description)


@functools.lru_cache(maxsize=None)
def _toggle_set_class() -> type:
    """The widget class behind :func:`toggles`, built on first use (ipywidgets is imported lazily)."""
    import ipywidgets as w
    import traitlets

    class ToggleSet(w.Box, w.ValueWidget):
        value = traitlets.Tuple()
        _syncing = False

        def __init__(self, options: Sequence[str], value: Sequence[str] = (), description: str = "") -> None:
            options = tuple(str(o) for o in options)
            if not options or len(set(options)) != len(options):
                raise ValueError(f"toggles needs distinct options; got {options!r}.")
            self.options = options
            self.buttons = [w.ToggleButton(description=o, value=False, layout=w.Layout(width="auto")) for o in options]
            label = [w.Label(description)] if description else []
            super().__init__(children=label + self.buttons, layout=w.Layout(flex_flow="row wrap", width="100%"))
            for button in self.buttons:
                button.observe(self._from_buttons, names="value")
            self.value = tuple(value)

        @traitlets.validate("value")
        def _validate(self, proposal: Any) -> tuple[str, ...]:
            chosen = tuple(proposal["value"])
            unknown = [c for c in chosen if c not in self.options]
            if unknown:
                raise ValueError(f"not among the options {self.options}: {unknown}.")
            return tuple(o for o in self.options if o in chosen)

        @traitlets.observe("value")
        def _to_buttons(self, change: Any) -> None:
            self._syncing = True
            try:
                for option, button in zip(self.options, self.buttons):
                    button.value = option in change["new"]
            finally:
                self._syncing = False

        def _from_buttons(self, change: Any) -> None:
            if not self._syncing:
                self.value = tuple(o for o, b in zip(self.options, self.buttons) if b.value)

    return ToggleSet
