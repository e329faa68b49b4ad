"""One module per layer family; ``registry`` maps command names to layer classes."""
