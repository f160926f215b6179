"""model.summary() in tf.keras's table layout (the one the seed shows)."""

__all__ = ["print_summary"]


def _wrap(text, width):
    """Splits `text` into pieces of `width` characters, as tf.keras wraps long cells."""
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def _row(cells, positions):
    """Lines of one table row, laid out as tf.keras does: the first cell after one space and
    wrapped at its column's width less two, the others flush with their column and wrapped at
    its width less one."""
    widths = [end - start for start, end in zip([0] + positions[:-1], positions)]
    pieces = [_wrap(str(cell), width - (2 if i == 0 else 1))
              for i, (cell, width) in enumerate(zip(cells, widths))]
    lines = []
    for row in range(max(len(p) for p in pieces)):
        line = ""
        for i, (piece, width) in enumerate(zip(pieces, widths)):
            text = piece[row] if row < len(piece) else ""
            line += ((" " if i == 0 else "") + text).ljust(width)
        lines.append(line)
    return lines


def _shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


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
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * line_length]
    for line in lines:
        emit(line.rstrip() if print_fn is None else line)


def _size(variable):
    size = 1
    for d in variable.shape:
        size *= d
    return size
