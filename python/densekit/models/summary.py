"""model.summary() in tf.keras 2's table layout."""

__all__ = ["print_summary"]


def _row(cells, positions):
    """Lines of one table row, laid out exactly as tf.keras's print_row: each cell takes its
    column's width less two (the last column: its full width), a long cell continues on the
    next line, and the first cell starts after one space."""
    left = [str(cell) for cell in cells]
    lines = []
    while any(left):
        line = ""
        for col, text in enumerate(left):
            start = positions[col - 1] if col > 0 else 0
            space = 2 if col != len(positions) - 1 else 0
            cutoff = positions[col] - start - space
            piece = text[:cutoff]
            line += (" " if col == 0 else "") + piece + " " * space
            left[col] = text[cutoff:]
            line += " " * (positions[col] - len(line))
        lines.append(line)
    return lines


def _shape(shape):
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def print_summary(model, line_length=None, positions=None, print_fn=None):
    line_length = line_length or 65
    positions = positions or [0.45, 0.85, 1.0]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    emit = print_fn or print
    lines = [f'Model: "{model.name}"', "_" * line_length]
    lines += _row(["Layer (type)", "Output Shape", "Param #"], positions)
    lines.append("=" * line_length)
    built = model.built
    for i, layer in enumerate(model.layers):
        shape = _shape(layer.output_shape) if built else "(unbuilt)"
        params = layer.count_params() if built else 0
        lines += _row([f"{layer.name} ({type(layer).__name__})", shape, params], positions)
        lines.append("" if i == len(model.layers) - 1 else " " * line_length)
    lines[-1:] = ["=" * line_length] if model.layers else lines[-1:]
    trainable = sum(int(_size(v)) for v in model.trainable_variables)
    total = sum(int(_size(v)) for v in model.variables)
    lines += [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "_" * line_length,
    ]
    for line in lines:
        emit(line.rstrip() if print_fn is None else line)


def _size(variable):
    size = 1
    for d in variable.shape:
        size *= d
    return size
